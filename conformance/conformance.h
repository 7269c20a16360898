// The conformance kit: drives a ranker or a generator through the protocol
// of docs/plugins.md against a small deterministic scenario, then through
// bad input, and reports each requirement met or not.
//
//   store::StoreClient store(CreateChannel(store_address));
//   FEEDLOOP_ASSIGN_OR_RETURN(Report report,
//       CheckRanker(CreateChannel(ranker_address), store, Options()));
//   std::cout << report.Format();
//
// The server under test must use the same store (its --store): the kit
// writes the scenario's run there, as the loop would (a run record, each
// round's items and interactions, each round's commit), and the server
// reads it back. The run is named "<run_prefix>-ranker-<time>" and left
// STOPPED, so no loop adopts it; point the kit at a scratch store.
//
// The scenario is small (24 users, 30 items a round, dim 8, 3 rounds) and
// the same for every server: its items and interactions come from
// Options::seed, not from the server.
//
// Returns a Report (which may say the server failed); an error only when
// the scenario cannot be set up (the store is unreachable or refuses it).
// Thread-compatible: one check at a time per server.

#ifndef FEEDLOOP_CONFORMANCE_CONFORMANCE_H_
#define FEEDLOOP_CONFORMANCE_CONFORMANCE_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "conformance/report.h"
#include "grpcpp/channel.h"
#include "store/store_client.h"

namespace feedloop::conformance {

struct Options {
  // Run ids start with this. Default: "conformance".
  std::string run_prefix = "conformance";
  // Seeds the scenario's config, items and interactions. Default: 7.
  uint64_t seed = 7;
  // Deadline of each call to the server under test. Default: 30 s.
  absl::Duration call_deadline = absl::Seconds(30);
};

absl::StatusOr<Report> CheckRanker(std::shared_ptr<grpc::Channel> ranker,
                                   store::StoreClient& store, const Options& options);

absl::StatusOr<Report> CheckGenerator(std::shared_ptr<grpc::Channel> generator,
                                      store::StoreClient& store, const Options& options);

}  // namespace feedloop::conformance

#endif  // FEEDLOOP_CONFORMANCE_CONFORMANCE_H_
