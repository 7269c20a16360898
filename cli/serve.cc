// `feedloop serve <service>`: one service as its own process.

#include <iostream>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "cli/commands.h"
#include "common/memory_budget.h"
#include "glog/logging.h"
#include "rpc/server.h"
#include "rpc/telemetry.h"
#include "stack/generator_server.h"
#include "stack/loop_server.h"
#include "stack/ranker_server.h"
#include "stack/store_server.h"
#include "rpc/service_host.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:0",
          "host:port to serve on; port 0 lets the OS pick (printed at start). "
          "Binds loopback unless told otherwise.");
ABSL_FLAG(std::string, data_dir, "",
          "store: folder of the RocksDB database (created if missing)");
ABSL_FLAG(int, threads, 0, "worker threads; 0 means one per core");
ABSL_FLAG(bool, sync, true,
          "store: sync the write-ahead log before acknowledging a write");
ABSL_FLAG(int, search_threads, 0,
          "ranker: most OpenMP threads per FAISS search (never more than its "
          "queries); 0 means one per core");
ABSL_FLAG(absl::Duration, max_connection_age, absl::ZeroDuration(),
          "close each client connection after this long (calls in flight "
          "finish), so clients re-resolve the service's name and reach "
          "replicas added since (the ranker's), e.g. 5m; 0 means never");
ABSL_FLAG(bool, replay_outcomes, true,
          "serve generator: resume a run by observing its last round's outcomes "
          "again from the store. false is an ablation of the resume path (tests "
          "use it to show it matters): resumed runs then differ from uninterrupted "
          "ones");
ABSL_FLAG(std::string, metrics_listen, "",
          "serve Prometheus metrics at http://HOST:PORT/metrics (port 0: any); "
          "off when empty");

namespace feedloop::cli {
namespace {

// The flags every server shares.
void ApplyServingFlags(const Transport& transport, Telemetry* telemetry,
                       ServingOptions* options) {
  // Parsed (and refused if bad) by ServeCommand before any server starts.
  if (const uint64_t budget = *MemoryBudgetFromFlags(); budget > 0) {
    options->memory_budget = std::make_shared<MemoryBudget>(budget);
  }
  options->transport = transport;
  options->telemetry = telemetry;
  options->listen = absl::GetFlag(FLAGS_listen);
  options->threads = absl::GetFlag(FLAGS_threads);
  if (const absl::Duration age = absl::GetFlag(FLAGS_max_connection_age);
      age > absl::ZeroDuration()) {
    options->max_connection_age = age;
  }
}

// Serves until SIGINT or SIGTERM: the one serve loop of every service.
// INVALID_ARGUMENT from Start is a usage error.
template <typename Server>
int ServeUntilSignal(const std::string& service,
                     absl::StatusOr<std::unique_ptr<Server>> server) {
  if (!server.ok()) {
    std::cerr << "feedloop serve " << service << ": " << server.status().message()
              << "\n";
    return server.status().code() == absl::StatusCode::kInvalidArgument
               ? kExitUsage
               : kExitFailure;
  }
  // Tests and scripts read the bound address from this line.
  std::cout << "feedloop " << service << " listening on " << (*server)->address()
            << std::endl;
  const int signal_number = WaitForShutdownSignal();
  LOG(INFO) << "signal " << signal_number << ": shutting down";
  (*server)->Shutdown();
  return kExitOk;
}

int ServeStore(const Transport& transport, Telemetry* telemetry) {
  stack::StoreServer::Options options;
  ApplyServingFlags(transport, telemetry, &options);
  options.data_dir = absl::GetFlag(FLAGS_data_dir);
  options.sync = absl::GetFlag(FLAGS_sync);
  return ServeUntilSignal("store", stack::StoreServer::Start(options));
}

int ServeRanker(const Transport& transport, Telemetry* telemetry) {
  stack::RankerServer::Options options;
  ApplyServingFlags(transport, telemetry, &options);
  options.store_address = AddressesFromFlags().store;
  options.search_threads = absl::GetFlag(FLAGS_search_threads);
  return ServeUntilSignal("ranker", stack::RankerServer::Start(options));
}

int ServeGenerator(const Transport& transport, Telemetry* telemetry) {
  stack::GeneratorServer::Options options;
  ApplyServingFlags(transport, telemetry, &options);
  options.ranker_address = AddressesFromFlags().ranker;
  options.store_address = AddressesFromFlags().store;
  options.replay_outcomes = absl::GetFlag(FLAGS_replay_outcomes);
  if (options.ranker_address.empty()) {
    LOG(WARNING) << "no --ranker: only uncoupled runs (generator.alpha = 0) "
                    "can be served";
  }
  if (options.store_address.empty()) {
    LOG(WARNING) << "no --store: runs open at round 0 only, and a run is lost "
                    "if this generator restarts";
  }
  return ServeUntilSignal("generator", stack::GeneratorServer::Start(options));
}

int ServeLoop(const Transport& transport, Telemetry* telemetry) {
  stack::LoopServer::Options options;
  ApplyServingFlags(transport, telemetry, &options);
  options.store_address = AddressesFromFlags().store;
  options.ranker_address = AddressesFromFlags().ranker;
  options.generator_address = AddressesFromFlags().generator;
  const Ownership ownership = OwnershipFromFlags(absl::StrCat("loop@", HostName()));
  options.owner = ownership.owner;
  options.lease = ownership.lease;
  options.adopt_orphans = true;
  return ServeUntilSignal("loop", stack::LoopServer::Start(options));
}

}  // namespace

int ServeCommand(const std::vector<std::string>& args) {
  // Signals must be blocked before any server thread starts, so that only
  // WaitForShutdownSignal receives them.
  BlockShutdownSignals();
  const std::vector<std::string> services = {"store", "ranker", "generator",
                                             "loop"};
  if (args.size() != 1) {
    std::cerr << "usage: feedloop serve <service> [flags]; services: "
              << absl::StrJoin(services, ", ") << "\n";
    return kExitUsage;
  }
  absl::StatusOr<Transport> transport = TransportFromFlags();
  if (!transport.ok()) {
    std::cerr << "feedloop serve: " << transport.status().message() << "\n";
    return kExitUsage;
  }
  if (absl::Status budget = MemoryBudgetFromFlags().status(); !budget.ok()) {
    std::cerr << "feedloop serve: " << budget.message() << "\n";
    return kExitUsage;
  }
  std::unique_ptr<Telemetry> telemetry;
  if (const std::string listen = absl::GetFlag(FLAGS_metrics_listen); !listen.empty()) {
    auto started = Telemetry::Start(listen);
    if (!started.ok()) {
      std::cerr << "feedloop serve: " << started.status().message() << "\n";
      return kExitFailure;
    }
    telemetry = *std::move(started);
    std::cout << "metrics on http://" << telemetry->address() << "/metrics" << std::endl;
  }
  if (args[0] == "store") return ServeStore(*transport, telemetry.get());
  if (args[0] == "ranker") return ServeRanker(*transport, telemetry.get());
  if (args[0] == "generator") return ServeGenerator(*transport, telemetry.get());
  if (args[0] == "loop") return ServeLoop(*transport, telemetry.get());
  std::cerr << "feedloop serve: unknown service '" << args[0]
            << "'; services: " << absl::StrJoin(services, ", ") << "\n";
  return kExitUsage;
}

}  // namespace feedloop::cli
