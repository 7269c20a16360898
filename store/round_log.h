// RoundLog: a run's completed rounds, read back from the store. Every
// service that resumes a run (the ranker, the generator, the loop) rebuilds
// its state by applying these rounds with the same code its live path runs,
// so live and resumed state agree by construction.
//
//   FEEDLOOP_RETURN_IF_ERROR(ReplayRounds(store, run_id, 0, rounds_done,
//       kRoundItems | kRoundInteractions, [&](StoredRound& round) {
//         return state.ApplyRound(round);
//       }));
//
// A round's record is what its live path wrote: the items Ingest stored,
// in (round, id) order, which is the order the generator publishes them,
// and the interactions LogInteractions stored, in (user, position) order,
// which is the order the loop logs and sends them.

#ifndef FEEDLOOP_STORE_ROUND_LOG_H_
#define FEEDLOOP_STORE_ROUND_LOG_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "feedloop/v1/types.pb.h"
#include "store/store_client.h"

namespace feedloop::store {

struct StoredRound {
  uint32_t round = 0;
  // The items published in the round.
  std::vector<v1::Item> items;
  // Every examined slate position of the round, engaged or not.
  std::vector<v1::Interaction> interactions;
};

// What to read of each round.
enum RoundParts : unsigned {
  kRoundItems = 1,
  kRoundInteractions = 2,
};

absl::StatusOr<StoredRound> ReadRound(StoreClient& store,
                                      const std::string& run_id,
                                      uint32_t round, unsigned parts);

// Reads rounds [from, to) one at a time and applies each, in order; stops
// at the first error (annotated with the round).
absl::Status ReplayRounds(StoreClient& store, const std::string& run_id,
                          uint32_t from, uint32_t to, unsigned parts,
                          const std::function<absl::Status(StoredRound&)>& apply);

}  // namespace feedloop::store

#endif  // FEEDLOOP_STORE_ROUND_LOG_H_
