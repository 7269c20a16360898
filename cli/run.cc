// `feedloop run`: the main job. Runs an experiment (configs/default.pbtxt
// unless --config says otherwise) on the embedded services: store, ranker,
// generator and loop in one process, talking gRPC, with RocksDB under the
// output folder. Prints progress while it runs and a table at the end, and
// leaves runs/<id>/metrics.csv and summary.json.

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "cli/commands.h"
#include "common/server.h"
#include "config/config.h"
#include "loop/loop_server.h"
#include "loop/outputs.h"

ABSL_FLAG(std::string, config, "configs/default.pbtxt",
          "experiment config (ExperimentConfig in protobuf text format)");
ABSL_FLAG(bool, serve, false,
          "keep the services up after the run (store on 127.0.0.1:7001, where "
          "'feedloop query' looks) until Ctrl-C");
ABSL_FLAG(std::string, store_listen, feedloop::cli::kDefaultStoreAddress,
          "with --serve: where the store listens");
ABSL_FLAG(std::string, o, "runs",
          "output folder: runs/<id>/ files go here, and the embedded store's "
          "database in <folder>/.store");

namespace feedloop::cli {
namespace {

std::string FormatDuration(double seconds) {
  const int s = static_cast<int>(seconds + 0.5);
  return absl::StrFormat("%d:%02d", s / 60, s % 60);
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

  const bool serve = absl::GetFlag(FLAGS_serve);
  if (serve) BlockShutdownSignals();  // before any server thread starts
  loop::EmbeddedStack::Options options;
  options.data_dir = absl::StrCat(out_dir, "/.store");
  if (serve) options.store_listen = absl::GetFlag(FLAGS_store_listen);
  auto stack = loop::EmbeddedStack::Start(options);
  if (!stack.ok()) {
    std::cerr << "feedloop run: " << stack.status().message() << "\n";
    return kExitFailure;
  }

  const size_t runs = specs->size();
  const uint64_t total_rounds = runs * uint64_t{config->rounds()};
  std::atomic<uint64_t> rounds_done{0};
  (*stack)->experiments()->SetRoundListener(
      [&](const v1::RoundMetrics&) { rounds_done.fetch_add(1); });

  const absl::Time start = absl::Now();
  auto started = (*stack)->experiments()->Start(*config);
  if (!started.ok()) {
    std::cerr << "feedloop run: " << started.status().message() << "\n";
    return kExitFailure;
  }
  const std::string id = started->sweep_id().empty() ? started->run_ids(0)
                                                     : started->sweep_id();
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
  std::cout << "; services on " << (*stack)->loop_address() << " (loop), "
            << (*stack)->store_address() << " (store)" << std::endl;

  // A live progress line on a terminal; nothing when piped or logged.
  const bool live = isatty(STDERR_FILENO);
  while (!(*stack)->experiments()->WaitUntilIdle(absl::Milliseconds(250))) {
    if (!live) continue;
    const double elapsed = absl::ToDoubleSeconds(absl::Now() - start);
    const uint64_t done = rounds_done.load();
    const double rate = elapsed > 0 ? done / elapsed : 0;
    const double eta = rate > 0 ? (total_rounds - done) / rate : 0;
    const uint64_t run_index =
        std::min<uint64_t>(runs, done / config->rounds() + 1);
    std::cerr << absl::StrFormat(
        "\r  run %d/%d  round %d/%d  %.1f rounds/s  elapsed %s  ETA %s   ",
        run_index, runs, done, total_rounds, rate, FormatDuration(elapsed),
        FormatDuration(eta));
  }
  const double wall = absl::ToDoubleSeconds(absl::Now() - start);
  if (live) std::cerr << "\r" << std::string(78, ' ') << "\r";

  auto result = loop::CollectResults((*stack)->store(), *started, *config, wall);
  if (!result.ok()) {
    std::cerr << "feedloop run: collecting results: "
              << result.status().message() << "\n";
    return kExitFailure;
  }
  const std::string dir = absl::StrCat(out_dir, "/", id);
  if (absl::Status s = loop::WriteOutputs(dir, *result); !s.ok()) {
    std::cerr << "feedloop run: " << s.message() << "\n";
    return kExitFailure;
  }
  std::cout << "\n" << loop::FormatTable(result->summary) << "\n";
  std::cout << "final round's values; ± is half the 95% confidence interval "
               "over replicates\n";
  std::cout << absl::StrFormat("%d rounds in %.1f s (%.1f rounds/s)\n",
                               total_rounds, wall, total_rounds / wall);
  std::cout << "wrote " << dir << "/ metrics.csv, summary.json and report.html\n"
            << "open " << dir << "/report.html for the charts\n";
  bool all_done = true;
  for (const auto& run : result->summary.runs()) {
    all_done &= run.status() == v1::DONE;
  }
  if (serve) {
    std::cout << "\nserving until Ctrl-C: store " << (*stack)->store_address()
              << " (feedloop query ...), loop " << (*stack)->loop_address()
              << std::endl;
    WaitForShutdownSignal();
  }
  return all_done ? kExitOk : kExitFailure;
}

}  // namespace feedloop::cli
