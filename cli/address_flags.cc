// The services' addresses, shared by `feedloop serve` (the services a
// service dials) and `feedloop run` (deployed services to run on instead of
// starting them in-process), and the loop's run ownership, shared by
// `feedloop serve loop` and `feedloop run`.

#include <unistd.h>

#include <string>

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "cli/commands.h"
#include "common/memory_budget.h"
#include "common/status.h"

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

ABSL_FLAG(std::string, memory_budget, "",
          "serve and run: the memory the runs this process admits may reserve, "
          "e.g. 12GiB (default: half of the machine's or the container's memory). "
          "A run whose estimated need exceeds it is refused before it starts "
          "(README, \"Memory budget\")");

ABSL_FLAG(std::string, owner, "",
          "serve loop and run: this loop's name in the runs it plays (default: "
          "loop@HOST for serve loop, run@HOST for run on a deployed store, "
          "'embedded' with the in-process store). A loop restarted under the same "
          "name takes its runs back at once; under another, once their lease ends");
ABSL_FLAG(absl::Duration, lease, absl::Seconds(30),
          "serve loop and run: how long a run stays this loop's without a renewal "
          "(renewed every third of it); another loop adopts a run whose lease has "
          "ended");

namespace feedloop::cli {

Ownership OwnershipFromFlags(const std::string& default_owner) {
  Ownership o;
  o.owner = absl::GetFlag(FLAGS_owner);
  if (o.owner.empty()) o.owner = default_owner;
  o.lease = absl::GetFlag(FLAGS_lease);
  return o;
}

std::string HostName() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0 || name[0] == 0) return "localhost";
  return name;
}

absl::StatusOr<uint64_t> MemoryBudgetFromFlags() {
  const std::string text = absl::GetFlag(FLAGS_memory_budget);
  if (text.empty()) return 0;
  absl::StatusOr<uint64_t> bytes = ParseBytes(text);
  if (!bytes.ok()) return Annotate(bytes.status(), "--memory_budget");
  return bytes;
}

ServiceAddresses AddressesFromFlags() {
  ServiceAddresses a;
  a.store = absl::GetFlag(FLAGS_store);
  a.ranker = absl::GetFlag(FLAGS_ranker);
  a.generator = absl::GetFlag(FLAGS_generator);
  a.loop = absl::GetFlag(FLAGS_loop);
  return a;
}

}  // namespace feedloop::cli
