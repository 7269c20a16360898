// `feedloop run`: the main job. Runs an experiment (configs/default.pbtxt
// unless --config says otherwise) and leaves runs/<id>/metrics.csv,
// summary.json and report.html, with progress while it runs and a table at
// the end. Where it runs:
//   - by default on services embedded in this process (store, ranker,
//     generator and loop, talking gRPC, RocksDB under the output folder);
//   - with --store, --ranker or --generator, on those deployed services
//     instead, the rest (and the loop) in this process;
//   - with --loop and --store, on a deployed loop, this process only
//     submitting the experiment and following it.
// Either way the experiment goes through ExperimentService.StartRun and is
// followed with GetRun, so the three are one path.

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "cli/commands.h"
#include "common/status.h"
#include "config/config.h"
#include "feedloop/v1/experiment.grpc.pb.h"
#include "report/outputs.h"
#include "rpc/grpc_status.h"
#include "rpc/server.h"
#include "stack/embedded_stack.h"
#include "store/run_status.h"
#include "store/store_client.h"

ABSL_FLAG(std::string, config, "configs/default.pbtxt",
          "experiment config (ExperimentConfig in protobuf text format)");
ABSL_FLAG(bool, serve, false,
          "keep the services up after the run (store on 127.0.0.1:7001, where "
          "'feedloop query' looks) until Ctrl-C");
ABSL_FLAG(std::string, store_listen, feedloop::cli::kDefaultStoreAddress,
          "with --serve: where the store listens");
ABSL_FLAG(std::string, id, "",
          "the experiment's id (default: from its name and the time). When the "
          "experiment exists in the store, it is continued: the same command "
          "run again after an interruption or a crash finishes it");
ABSL_FLAG(std::string, o, "runs",
          "output folder: runs/<id>/ files go here, and the embedded store's "
          "database in <folder>/.store");

namespace feedloop::cli {
namespace {

std::string FormatDuration(double seconds) {
  const int s = static_cast<int>(seconds + 0.5);
  return absl::StrFormat("%d:%02d", s / 60, s % 60);
}

// Waits until the deployed service at `address` accepts a connection: it
// may still be starting. Says so after 2 s; false after 32 s.
bool WaitForDeployed(const std::string& what, const std::string& address,
                     const Transport& transport) {
  auto channel = CreateChannel(address, transport);
  if (channel->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Seconds(2)))) {
    return true;
  }
  std::cerr << "feedloop run: waiting for the " << what << " at " << address
            << " ..." << std::endl;
  if (channel->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Seconds(30)))) {
    return true;
  }
  std::cerr << "feedloop run: no " << what << " answers at " << address
            << " (waited 32 s)\n";
  return false;
}

// Set by the first SIGINT or SIGTERM while runs are followed.
std::atomic<bool> stop_requested{false};

void RequestStop(int) { stop_requested.store(true); }

// Polls the loop until every run has ended, calling `progress` with the
// rounds done so far. The first SIGINT or SIGTERM asks the loop to stop the
// runs after their current round (StopRun) and keeps following them, so the
// rounds done still reach the outputs; a second one ends the process. The
// runs' last records, or the first RPC error.
absl::StatusOr<std::vector<v1::RunRecord>> FollowRuns(
    v1::ExperimentService::Stub* loop, const v1::StartRunResponse& started,
    const std::function<void(uint64_t)>& progress) {
  struct sigaction action = {};
  action.sa_handler = RequestStop;
  action.sa_flags = SA_RESETHAND;  // the second signal takes its default
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  bool stopping = false;
  std::vector<v1::RunRecord> records(started.run_ids_size());
  while (true) {
    if (stop_requested.load() && !stopping) {
      stopping = true;
      std::cerr << "\nfeedloop run: stopping the runs after their current "
                   "round (again to quit now)\n";
      for (const std::string& id : started.run_ids()) {
        grpc::ClientContext context;
        context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
        v1::StopRunRequest request;
        request.set_run_id(id);
        v1::RunRecord stopped;
        loop->StopRun(&context, request, &stopped);  // ended runs say so; fine
      }
    }
    uint64_t done = 0;
    bool all_ended = true;
    for (int i = 0; i < started.run_ids_size(); ++i) {
      grpc::ClientContext context;
      context.set_wait_for_ready(true);  // a deployed loop may be restarting
      context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
      v1::GetRunRequest request;
      request.set_run_id(started.run_ids(i));
      const grpc::Status status = loop->GetRun(&context, request, &records[i]);
      if (!status.ok()) return FromGrpcStatus(status);
      done += records[i].rounds_done();
      all_ended &= store::IsEnded(records[i].status());
    }
    progress(done);
    if (all_ended) return records;
    absl::SleepFor(absl::Milliseconds(250));
  }
}

}  // namespace

int RunCommand(const std::vector<std::string>& args) {
  if (!args.empty()) {
    std::cerr << "feedloop run: unexpected argument '" << args[0]
              << "' (flags are --config FILE and -o DIR)\n";
    return kExitUsage;
  }
  const std::string config_path = absl::GetFlag(FLAGS_config);
  const std::string out_dir = absl::GetFlag(FLAGS_o);
  auto config = config::LoadConfigFile(config_path);
  if (!config.ok()) {
    std::cerr << "feedloop run: " << config.status().message() << "\n";
    return kExitUsage;
  }
  auto specs = config::ExpandSweep(*config);
  if (!specs.ok()) {
    std::cerr << "feedloop run: " << config_path << ": "
              << specs.status().message() << "\n";
    return kExitUsage;
  }
  absl::StatusOr<Transport> transport = TransportFromFlags();
  if (!transport.ok()) {
    std::cerr << "feedloop run: " << transport.status().message() << "\n";
    return kExitUsage;
  }
  const ServiceAddresses deployed = AddressesFromFlags();
  const bool serve = absl::GetFlag(FLAGS_serve);
  if (!deployed.loop.empty()) {
    if (deployed.store.empty()) {
      std::cerr << "feedloop run: --loop needs --store, where the results "
                   "are read\n";
      return kExitUsage;
    }
    if (!deployed.ranker.empty() || !deployed.generator.empty() || serve) {
      std::cerr << "feedloop run: with --loop, the deployed loop has its own "
                   "ranker and generator; drop --ranker, --generator and "
                   "--serve\n";
      return kExitUsage;
    }
  }

  for (const auto& [what, address] :
       {std::pair<const char*, std::string>{"store", deployed.store},
        {"ranker", deployed.ranker},
        {"generator", deployed.generator},
        {"loop", deployed.loop}}) {
    if (!address.empty() && !WaitForDeployed(what, address, *transport)) {
      return kExitFailure;
    }
  }

  // The loop to submit to, and the store to read results from: deployed,
  // or started here.
  std::unique_ptr<stack::EmbeddedStack> stack;
  std::string loop_address = deployed.loop;
  std::string store_address = deployed.store;
  if (deployed.loop.empty()) {
    if (serve) BlockShutdownSignals();  // before any server thread starts
    stack::EmbeddedStack::Options options;
    options.data_dir = absl::StrCat(out_dir, "/.store");
    if (serve) options.store_listen = absl::GetFlag(FLAGS_store_listen);
    options.store_address = deployed.store;
    options.ranker_address = deployed.ranker;
    options.generator_address = deployed.generator;
    options.transport = *transport;
    const Ownership ownership = OwnershipFromFlags(
        deployed.store.empty() ? "embedded" : absl::StrCat("run@", HostName()));
    options.owner = ownership.owner;
    options.lease = ownership.lease;
    auto started = stack::EmbeddedStack::Start(options);
    if (!started.ok()) {
      std::cerr << "feedloop run: " << started.status().message() << "\n";
      return kExitFailure;
    }
    stack = std::move(*started);
    loop_address = stack->loop_address();
    store_address = stack->store_address();
  }
  auto loop_stub =
      v1::ExperimentService::NewStub(CreateChannel(loop_address, *transport));
  store::StoreClient store(CreateChannel(store_address, *transport));

  const size_t runs = specs->size();
  const uint64_t total_rounds = runs * uint64_t{config->rounds()};
  const absl::Time start = absl::Now();
  v1::StartRunResponse started;
  {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    v1::StartRunRequest request;
    *request.mutable_config() = *config;
    request.set_experiment_id(absl::GetFlag(FLAGS_id));
    const grpc::Status status = loop_stub->StartRun(&context, request, &started);
    if (!status.ok()) {
      std::cerr << "feedloop run: loop at " << loop_address << ": "
                << status.error_message() << "\n";
      return status.error_code() == grpc::StatusCode::INVALID_ARGUMENT ||
                     status.error_code() == grpc::StatusCode::FAILED_PRECONDITION
                 ? kExitUsage
                 : kExitFailure;
    }
  }
  const std::string id = started.sweep_id().empty() ? started.run_ids(0)
                                                    : started.sweep_id();
  std::cout << "experiment " << id << ": " << runs << " run"
            << (runs == 1 ? "" : "s") << " of " << config->rounds()
            << " rounds";
  if (config->has_sweep()) {
    std::cout << " (" << config->sweep().parameter() << " in {";
    for (int i = 0; i < config->sweep().values_size(); ++i) {
      std::cout << (i ? ", " : "") << config->sweep().values(i);
    }
    std::cout << "} x " << config->sweep().replicates() << " replicates)";
  }
  std::cout << "; loop " << loop_address << ", store " << store_address
            << (stack != nullptr && deployed.store.empty() ? " (in-process)" : "")
            << std::endl;
  if (started.resumed() > 0) {
    std::cout << "continuing: " << started.resumed() << " of its runs resume where "
              << "they stopped" << std::endl;
  }

  // A live progress line on a terminal; nothing when piped or logged.
  const bool live = isatty(STDERR_FILENO);
  auto records = FollowRuns(loop_stub.get(), started, [&](uint64_t done) {
    if (!live) return;
    const double elapsed = absl::ToDoubleSeconds(absl::Now() - start);
    const double rate = elapsed > 0 ? done / elapsed : 0;
    const double eta = rate > 0 ? (total_rounds - done) / rate : 0;
    const uint64_t run_index =
        std::min<uint64_t>(runs, done / config->rounds() + 1);
    std::cerr << absl::StrFormat(
        "\r  run %d/%d  round %d/%d  %.1f rounds/s  elapsed %s  ETA %s   ",
        run_index, runs, done, total_rounds, rate, FormatDuration(elapsed),
        FormatDuration(eta));
  });
  const double wall = absl::ToDoubleSeconds(absl::Now() - start);
  if (live) std::cerr << "\r" << std::string(78, ' ') << "\r";
  if (!records.ok()) {
    std::cerr << "feedloop run: following the runs on " << loop_address << ": "
              << records.status().message() << "\n";
    return kExitFailure;
  }

  auto result = report::CollectResults(&store, started, *config, wall);
  if (!result.ok()) {
    std::cerr << "feedloop run: collecting results: "
              << result.status().message() << "\n";
    return kExitFailure;
  }
  const std::string dir = absl::StrCat(out_dir, "/", id);
  if (absl::Status s = report::WriteOutputs(dir, *result); !s.ok()) {
    std::cerr << "feedloop run: " << s.message() << "\n";
    return kExitFailure;
  }
  std::cout << "\n" << report::FormatTable(result->summary) << "\n";
  std::cout << "final round's values; ± is half the 95% confidence interval "
               "over replicates\n";
  std::cout << absl::StrFormat("%d rounds in %.1f s (%.1f rounds/s)\n",
                               total_rounds, wall, total_rounds / wall);
  std::cout << "wrote " << dir << "/ metrics.csv, summary.json and report.html\n"
            << "open " << dir << "/report.html for the charts\n";
  bool all_done = true, resumable = false;
  for (const auto& run : result->summary.runs()) {
    if (run.status() != v1::DONE) {
      all_done = false;
      resumable |= run.status() != v1::FAILED;
      std::cerr << "feedloop run: run " << run.run_id() << " "
                << v1::RunStatus_Name(run.status())
                << (run.error().empty() ? "" : ": ") << run.error() << "\n";
    }
  }
  if (resumable) {
    std::cerr << "feedloop run: to continue the experiment where it stopped: "
                 "feedloop run --config " << config_path << " -o " << out_dir
              << " --id " << id << "\n";
  }
  if (serve) {
    std::cout << "\nserving until Ctrl-C: store " << store_address
              << " (feedloop query ...), loop " << loop_address << std::endl;
    WaitForShutdownSignal();
  }
  return all_done ? kExitOk : kExitFailure;
}

}  // namespace feedloop::cli
