// The services' addresses, shared by `feedloop serve` (the services a
// service dials) and `feedloop run` (deployed services to run on instead of
// starting them in-process).

#include <string>

#include "absl/flags/flag.h"
#include "cli/commands.h"

ABSL_FLAG(std::string, store, "",
          "the store's address (host:port). serve ranker and loop: required. "
          "run: use this deployed store instead of one in-process");
ABSL_FLAG(std::string, ranker, "",
          "the ranker's address (host:port). serve generator: its reward model "
          "for coupled runs; serve loop: required. run: use this deployed "
          "ranker");
ABSL_FLAG(std::string, generator, "",
          "the generator's address (host:port). serve loop: required. run: use "
          "this deployed generator");
ABSL_FLAG(std::string, loop, "",
          "run: submit the experiment to this deployed loop service "
          "(ExperimentService) and follow it; needs --store for the results");

namespace feedloop::cli {

ServiceAddresses AddressesFromFlags() {
  ServiceAddresses a;
  a.store = absl::GetFlag(FLAGS_store);
  a.ranker = absl::GetFlag(FLAGS_ranker);
  a.generator = absl::GetFlag(FLAGS_generator);
  a.loop = absl::GetFlag(FLAGS_loop);
  return a;
}

}  // namespace feedloop::cli
