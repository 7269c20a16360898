// feedloop: one binary for every process of the testbed.
//
//   feedloop run [--config FILE] [-o DIR]      the embedded default experiment
//   feedloop serve store --listen ADDR --data_dir DIR
//
// main only picks the subcommand and parses flags; the work is in the
// libraries.

#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/flags/usage_config.h"
#include "absl/strings/match.h"
#include "cli/commands.h"
#include "glog/logging.h"

namespace {

constexpr char kUsage[] = R"(feedloop: couple a content generator to a ranker and measure diversity.

Usage:
  feedloop run [--config FILE] [-o DIR] [--serve]
                                            run an experiment on the embedded services;
                                            --serve keeps them up for queries
  feedloop query runs|series|compare|watch|evaluate [...] [--format table|csv|json]
                                            diversity metrics over RPC from a store
  feedloop serve store --listen HOST:PORT --data_dir DIR
                                            serve the store (IngestService, DiversityService)
  feedloop serve ranker --listen HOST:PORT --store HOST:PORT
                                            serve the ranker (RankerService)
  feedloop serve generator --listen HOST:PORT --ranker HOST:PORT
                                            serve the generator (GeneratorService)
  feedloop serve loop --listen HOST:PORT --store HOST:PORT --ranker HOST:PORT
                      --generator HOST:PORT serve the loop (ExperimentService)
  feedloop health HOST:PORT [--service NAME]
                                            a server's grpc.health.v1 status; exit 0 if SERVING
  feedloop conformance ranker|generator HOST:PORT --store HOST:PORT
                                            check a ranker or generator (a plug-in) against
                                            the protocol (docs/plugins.md); exit 0 if it conforms
  feedloop help                             this text

'feedloop <command> --help' lists a command's flags.)";

struct Command {
  const char* name;
  int (*fn)(const std::vector<std::string>&);
};

constexpr Command kCommands[] = {
    {"run", feedloop::cli::RunCommand},
    {"serve", feedloop::cli::ServeCommand},
    {"query", feedloop::cli::QueryCommand},
    {"health", feedloop::cli::HealthCommand},
    {"conformance", feedloop::cli::ConformanceCommand},
};

}  // namespace

int main(int argc, char** argv) {
  // absl prints "feedloop: " before the message itself.
  absl::SetProgramUsageMessage(absl::string_view(kUsage).substr(sizeof("feedloop: ") - 1));
  absl::FlagsUsageConfig usage_config;
  // `feedloop <command> --help` lists that command's flags (cli/<command>.cc),
  // not those of the other commands or of the libraries.
  static std::string flags_file = "cli/";
  if (argc >= 2) flags_file += std::string(argv[1]) + ".cc";
  usage_config.contains_help_flags = [](absl::string_view file) {
    return absl::StrContains(file, flags_file) ||
           ((flags_file == "cli/serve.cc" || flags_file == "cli/query.cc" ||
             flags_file == "cli/run.cc" || flags_file == "cli/health.cc" ||
             flags_file == "cli/conformance.cc") &&
            absl::StrContains(file, "cli/transport_flags.cc")) ||
           ((flags_file == "cli/serve.cc" || flags_file == "cli/run.cc" ||
             flags_file == "cli/conformance.cc") &&
            absl::StrContains(file, "cli/address_flags.cc"));
  };
  usage_config.normalize_filename = [](absl::string_view file) {
    const size_t at = file.rfind("cli/");
    return std::string(at == absl::string_view::npos ? file : file.substr(at));
  };
  absl::SetFlagsUsageConfig(usage_config);

  if (argc < 2 || std::strcmp(argv[1], "help") == 0 ||
      std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0) {
    std::cout << kUsage << "\n";
    return argc < 2 ? feedloop::cli::kExitUsage : feedloop::cli::kExitOk;
  }
  const Command* command = nullptr;
  for (const Command& c : kCommands) {
    if (std::strcmp(argv[1], c.name) == 0) command = &c;
  }
  if (command == nullptr) {
    std::cerr << "feedloop: unknown command '" << argv[1] << "'\n\n"
              << kUsage << "\n";
    return feedloop::cli::kExitUsage;
  }

  // "-o DIR" is the one short flag; absl spells it --o.
  std::vector<char*> rest = {argv[0]};
  for (int i = 2; i < argc; ++i) {
    if (std::strcmp(argv[i], "-o") == 0) {
      static char kO[] = "--o";
      rest.push_back(kO);
    } else {
      rest.push_back(argv[i]);
    }
  }
  std::vector<char*> positional_raw =
      absl::ParseCommandLine(static_cast<int>(rest.size()), rest.data());
  google::InitGoogleLogging(argv[0]);
  FLAGS_logtostderr = true;
  // `feedloop run` talks to a person: the services' start-up chatter would
  // bury the progress line. Servers keep INFO.
  if (std::strcmp(argv[1], "run") == 0) FLAGS_minloglevel = google::GLOG_WARNING;

  std::vector<std::string> positional(positional_raw.begin() + 1,
                                      positional_raw.end());
  return command->fn(positional);
}
