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

// What the flags ask for, checked: INVALID_ARGUMENT names the problem.
struct Plan {
  std::string config_path, out_dir;
  v1::ExperimentConfig config;
  size_t runs = 0;
  Transport transport;
  ServiceAddresses deployed;
  bool serve = false;
  uint64_t memory_budget = 0;  // 0: the default
};

absl::StatusOr<Plan> PlanFromFlags(const std::vector<std::string>& args) {
  if (!args.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "unexpected argument '", args[0], "' (flags are --config FILE and -o DIR)"));
  }
  Plan plan;
  plan.config_path = absl::GetFlag(FLAGS_config);
  plan.out_dir = absl::GetFlag(FLAGS_o);
  FEEDLOOP_ASSIGN_OR_RETURN(plan.config, config::LoadConfigFile(plan.config_path));
  absl::StatusOr<std::vector<config::RunSpec>> specs = config::ExpandSweep(plan.config);
  if (!specs.ok()) return Annotate(specs.status(), plan.config_path);
  plan.runs = specs->size();
  FEEDLOOP_ASSIGN_OR_RETURN(plan.transport, TransportFromFlags());
  plan.deployed = AddressesFromFlags();
  plan.serve = absl::GetFlag(FLAGS_serve);
  FEEDLOOP_ASSIGN_OR_RETURN(plan.memory_budget, MemoryBudgetFromFlags());
  if (!plan.deployed.loop.empty()) {
    if (plan.deployed.store.empty()) {
      return absl::InvalidArgumentError(
          "--loop needs --store, where the results are read");
    }
    if (!plan.deployed.ranker.empty() || !plan.deployed.generator.empty() || plan.serve) {
      return absl::InvalidArgumentError(
          "with --loop, the deployed loop has its own ranker and generator; "
          "drop --ranker, --generator and --serve");
    }
  }
  return plan;
}

// The deployed services named, each accepting connections.
absl::Status WaitForServices(const Plan& plan) {
  for (const auto& [what, address] :
       {std::pair<const char*, std::string>{"store", plan.deployed.store},
        {"ranker", plan.deployed.ranker},
        {"generator", plan.deployed.generator},
        {"loop", plan.deployed.loop}}) {
    if (!address.empty() && !WaitForDeployed(what, address, plan.transport)) {
      return absl::UnavailableError(absl::StrCat("no ", what, " at ", address));
    }
  }
  return absl::OkStatus();
}

// The loop to submit to and the store to read from: deployed, or started
// here (the embedded stack, kept in `stack`).
struct Services {
  std::unique_ptr<stack::EmbeddedStack> stack;
  std::string loop_address, store_address;
};

absl::StatusOr<Services> StartServices(const Plan& plan) {
  Services services;
  services.loop_address = plan.deployed.loop;
  services.store_address = plan.deployed.store;
  if (!plan.deployed.loop.empty()) return services;
  if (plan.serve) BlockShutdownSignals();  // before any server thread starts
  stack::EmbeddedStack::Options options;
  options.data_dir = absl::StrCat(plan.out_dir, "/.store");
  if (plan.serve) options.store_listen = absl::GetFlag(FLAGS_store_listen);
  options.store_address = plan.deployed.store;
  options.ranker_address = plan.deployed.ranker;
  options.generator_address = plan.deployed.generator;
  options.transport = plan.transport;
  const Ownership ownership = OwnershipFromFlags(
      plan.deployed.store.empty() ? "embedded" : absl::StrCat("run@", HostName()));
  options.owner = ownership.owner;
  options.lease = ownership.lease;
  options.memory_budget_bytes = plan.memory_budget;
  absl::StatusOr<std::unique_ptr<stack::EmbeddedStack>> started =
      stack::EmbeddedStack::Start(options);
  if (!started.ok()) {  // not a usage error, whatever its code
    return absl::UnavailableError(started.status().message());
  }
  services.stack = *std::move(started);
  services.loop_address = services.stack->loop_address();
  services.store_address = services.stack->store_address();
  return services;
}

// StartRun; a config the loop refuses is a usage error.
absl::StatusOr<v1::StartRunResponse> Submit(v1::ExperimentService::Stub* loop,
                                            const Plan& plan,
                                            const std::string& loop_address) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  v1::StartRunRequest request;
  *request.mutable_config() = plan.config;
  request.set_experiment_id(absl::GetFlag(FLAGS_id));
  v1::StartRunResponse started;
  const grpc::Status status = loop->StartRun(&context, request, &started);
  if (status.ok()) return started;
  const absl::Status s = Annotate(FromGrpcStatus(status), absl::StrCat("loop at ", loop_address));
  if (absl::IsInvalidArgument(s) || absl::IsFailedPrecondition(s)) return s;
  return absl::UnavailableError(s.message());
}

std::string ExperimentId(const v1::StartRunResponse& started) {
  return started.sweep_id().empty() ? started.run_ids(0) : started.sweep_id();
}

void PrintStarted(const Plan& plan, const Services& services,
                  const v1::StartRunResponse& started) {
  const v1::ExperimentConfig& config = plan.config;
  std::cout << "experiment " << ExperimentId(started) << ": " << plan.runs << " run"
            << (plan.runs == 1 ? "" : "s") << " of " << config.rounds() << " rounds";
  if (config.has_sweep()) {
    std::cout << " (" << config.sweep().parameter() << " in {";
    for (int i = 0; i < config.sweep().values_size(); ++i) {
      std::cout << (i ? ", " : "") << config.sweep().values(i);
    }
    std::cout << "} x " << config.sweep().replicates() << " replicates)";
  }
  std::cout << "; loop " << services.loop_address << ", store " << services.store_address
            << (services.stack != nullptr && plan.deployed.store.empty() ? " (in-process)" : "")
            << std::endl;
  if (started.resumed() > 0) {
    std::cout << "continuing: " << started.resumed() << " of its runs resume where "
              << "they stopped" << std::endl;
  }
}

// A live progress line on a terminal; when piped or logged, the same line
// at most every 30 s (and only when rounds have been played since), so a
// log shows a long run moving without filling up.
class ProgressLine {
 public:
  ProgressLine(uint64_t runs, uint64_t rounds_per_run)
      : live_(isatty(STDERR_FILENO)), runs_(runs), rounds_per_run_(rounds_per_run),
        start_(absl::Now()), last_logged_(start_) {}
  ~ProgressLine() {
    if (live_) std::cerr << "\r" << std::string(78, ' ') << "\r";
  }
  void Show(uint64_t done) {
    const absl::Time now = absl::Now();
    if (!live_ && (done == logged_done_ || now - last_logged_ < absl::Seconds(30))) return;
    const uint64_t total = runs_ * rounds_per_run_;
    const double elapsed = seconds();
    const double rate = elapsed > 0 ? done / elapsed : 0;
    const double eta = rate > 0 ? (total - done) / rate : 0;
    const uint64_t run_index = std::min<uint64_t>(runs_, done / rounds_per_run_ + 1);
    const std::string line = absl::StrFormat(
        "  run %d/%d  round %d/%d  %.1f rounds/s  elapsed %s  ETA %s", run_index, runs_,
        done, total, rate, FormatDuration(elapsed), FormatDuration(eta));
    if (live_) {
      std::cerr << "\r" << line << "   ";
    } else {
      std::cerr << line << std::endl;
      last_logged_ = now;
      logged_done_ = done;
    }
  }
  double seconds() const { return absl::ToDoubleSeconds(absl::Now() - start_); }

 private:
  const bool live_;
  const uint64_t runs_, rounds_per_run_;
  const absl::Time start_;
  absl::Time last_logged_;
  uint64_t logged_done_ = 0;
};

// runs/<id>/ files and the final table.
absl::Status WriteResults(const Plan& plan, store::StoreClient* store,
                          const v1::StartRunResponse& started, double wall,
                          v1::ExperimentSummary* summary) {
  absl::StatusOr<report::ExperimentResult> result =
      report::CollectResults(store, started, plan.config, wall);
  if (!result.ok()) return Annotate(result.status(), "collecting results");
  const std::string dir = absl::StrCat(plan.out_dir, "/", ExperimentId(started));
  FEEDLOOP_RETURN_IF_ERROR(report::WriteOutputs(dir, *result));
  const uint64_t total_rounds = plan.runs * uint64_t{plan.config.rounds()};
  std::cout << "\n" << report::FormatTable(result->summary) << "\n";
  std::cout << "final round's values; ± is half the 95% confidence interval "
               "over replicates\n";
  std::cout << absl::StrFormat("%d rounds in %.1f s (%.1f rounds/s)\n",
                               total_rounds, wall, total_rounds / wall);
  std::cout << "wrote " << dir << "/ metrics.csv, summary.json and report.html\n"
            << "open " << dir << "/report.html for the charts\n";
  *summary = std::move(result->summary);
  return absl::OkStatus();
}

// Says which runs did not finish and how to continue them; true when all did.
bool ReportUnfinished(const Plan& plan, const v1::StartRunResponse& started,
                      const v1::ExperimentSummary& summary) {
  bool all_done = true, resumable = false;
  for (const auto& run : summary.runs()) {
    if (run.status() == v1::DONE) continue;
    all_done = false;
    resumable |= run.status() != v1::FAILED;
    std::cerr << "feedloop run: run " << run.run_id() << " "
              << v1::RunStatus_Name(run.status())
              << (run.error().empty() ? "" : ": ") << run.error() << "\n";
  }
  if (resumable) {
    std::cerr << "feedloop run: to continue the experiment where it stopped: "
                 "feedloop run --config " << plan.config_path << " -o " << plan.out_dir
              << " --id " << ExperimentId(started) << "\n";
  }
  return all_done;
}

int Fail(const absl::Status& s) {
  std::cerr << "feedloop run: " << s.message() << "\n";
  return absl::IsInvalidArgument(s) || absl::IsFailedPrecondition(s) ? kExitUsage
                                                                     : kExitFailure;
}

}  // namespace

int RunCommand(const std::vector<std::string>& args) {
  absl::StatusOr<Plan> plan = PlanFromFlags(args);  // every error a usage error
  if (!plan.ok()) return Fail(absl::InvalidArgumentError(plan.status().message()));
  if (!WaitForServices(*plan).ok()) return kExitFailure;  // it said why
  absl::StatusOr<Services> services = StartServices(*plan);
  if (!services.ok()) return Fail(services.status());
  auto loop = v1::ExperimentService::NewStub(
      CreateChannel(services->loop_address, plan->transport));
  store::StoreClient store(CreateChannel(services->store_address, plan->transport));

  absl::StatusOr<v1::StartRunResponse> started =
      Submit(loop.get(), *plan, services->loop_address);
  if (!started.ok()) return Fail(started.status());
  PrintStarted(*plan, *services, *started);
  double wall = 0;
  {
    ProgressLine progress(plan->runs, plan->config.rounds());
    absl::StatusOr<std::vector<v1::RunRecord>> records = FollowRuns(
        loop.get(), *started, [&](uint64_t done) { progress.Show(done); });
    wall = progress.seconds();
    if (!records.ok()) {
      return Fail(absl::UnavailableError(absl::StrCat(
          "following the runs on ", services->loop_address, ": ",
          records.status().message())));
    }
  }
  v1::ExperimentSummary summary;
  if (absl::Status s = WriteResults(*plan, &store, *started, wall, &summary); !s.ok()) {
    return Fail(absl::InternalError(s.message()));
  }
  const bool all_done = ReportUnfinished(*plan, *started, summary);
  if (plan->serve) {
    std::cout << "\nserving until Ctrl-C: store " << services->store_address
              << " (feedloop query ...), loop " << services->loop_address << std::endl;
    WaitForShutdownSignal();
  }
  return all_done ? kExitOk : kExitFailure;
}

}  // namespace feedloop::cli
