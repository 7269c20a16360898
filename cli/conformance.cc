// `feedloop conformance ranker|generator HOST:PORT --store HOST:PORT`:
// checks a ranker or a generator, feedloop's own or a plug-in, against the
// protocol of docs/plugins.md (conformance/conformance.h). Prints one line
// per requirement and a summary. Exit 0 when every required one is met, 1
// when one is not (or the scenario could not be set up), 2 for bad usage.

#include <iostream>

#include "absl/flags/flag.h"
#include "absl/time/time.h"
#include "cli/commands.h"
#include "conformance/conformance.h"
#include "rpc/server.h"
#include "store/store_client.h"

ABSL_FLAG(uint64_t, conformance_seed, 7,
          "conformance: seeds the scenario's config, items and interactions");
ABSL_FLAG(absl::Duration, call_timeout, absl::Seconds(30),
          "conformance: the deadline of each call to the server under test");

namespace feedloop::cli {

int ConformanceCommand(const std::vector<std::string>& args) {
  constexpr char kUsageLine[] =
      "usage: feedloop conformance ranker|generator HOST:PORT --store HOST:PORT "
      "[--tls_* ...]\n"
      "  --store is the store the server under test uses (its own --store): the\n"
      "  scenario's runs are written there, named conformance-*; use a scratch store.\n";
  if (args.size() != 2 || (args[0] != "ranker" && args[0] != "generator")) {
    std::cerr << kUsageLine;
    return kExitUsage;
  }
  const ServiceAddresses addresses = AddressesFromFlags();
  if (addresses.store.empty()) {
    std::cerr << "feedloop conformance: --store is required\n" << kUsageLine;
    return kExitUsage;
  }
  absl::StatusOr<Transport> transport = TransportFromFlags();
  if (!transport.ok()) {
    std::cerr << "feedloop conformance: " << transport.status().message() << "\n";
    return kExitUsage;
  }
  store::StoreClient store(CreateChannel(addresses.store, *transport));
  conformance::Options options;
  options.seed = absl::GetFlag(FLAGS_conformance_seed);
  options.call_deadline = absl::GetFlag(FLAGS_call_timeout);
  std::cout << "checking the " << args[0] << " at " << args[1] << " (store " << addresses.store
            << ") against docs/plugins.md" << std::endl;
  const auto channel = CreateChannel(args[1], *transport);
  absl::StatusOr<conformance::Report> report =
      args[0] == "ranker" ? conformance::CheckRanker(channel, store, options)
                          : conformance::CheckGenerator(channel, store, options);
  if (!report.ok()) {
    std::cerr << "feedloop conformance: the scenario could not be set up: "
              << report.status().message() << "\n";
    return kExitFailure;
  }
  std::cout << report->Format();
  return report->passed() ? kExitOk : kExitFailure;
}

}  // namespace feedloop::cli
