// What the ranker's and the generator's checks share: the scenario's
// config, its run in the store, its items and interactions, and calls with
// a deadline. Internal to conformance/.

#ifndef FEEDLOOP_CONFORMANCE_SCENARIO_H_
#define FEEDLOOP_CONFORMANCE_SCENARIO_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "conformance/conformance.h"
#include "feedloop/v1/config.pb.h"
#include "feedloop/v1/ranker.pb.h"
#include "feedloop/v1/types.pb.h"
#include "rpc/deadline.h"
#include "rpc/grpc_status.h"
#include "store/store_client.h"

namespace feedloop::conformance::internal {

inline constexpr uint32_t kUsers = 24;
inline constexpr uint32_t kDim = 8;
inline constexpr uint32_t kSlateSize = 4;
inline constexpr uint32_t kCreators = 6;
inline constexpr uint32_t kItemsPerCreator = 5;
inline constexpr uint32_t kItemsPerRound = kCreators * kItemsPerCreator;
inline constexpr uint32_t kTtlRounds = 2;
// More than the three rounds played, so that a skipped or out-of-step
// round the checks ask for is still a round of the run.
inline constexpr uint32_t kRounds = 6;

// The scenario's experiment: small, uncoupled (generator.alpha 0, so a
// generator needs no ranker), every field the checks rely on explicit.
v1::ExperimentConfig ScenarioConfig(uint64_t seed);

// A new run of `config` in the store, named "<prefix>-<what>-<unix ms>",
// STOPPED from the start so that no loop adopts it; its id.
absl::StatusOr<std::string> CreateRun(store::StoreClient& store,
                                      const v1::ExperimentConfig& config,
                                      const Options& options, const std::string& what);
// Leaves the run STOPPED (released).
absl::Status FinishRun(store::StoreClient& store, const std::string& run_id,
                       uint32_t rounds_done);
// Creates the scenario's run (`*run_id`), plays it with `play`, and leaves
// it STOPPED at `*rounds_done` (read after playing); the first error of
// the two.
template <typename Play>
absl::Status PlayInRun(store::StoreClient& store, const v1::ExperimentConfig& config,
                       const Options& options, const std::string& what,
                       std::string* run_id, const uint32_t* rounds_done, Play play) {
  absl::StatusOr<std::string> created = CreateRun(store, config, options, what);
  if (!created.ok()) return created.status();
  *run_id = *created;
  const absl::Status played = play();
  const absl::Status finished = FinishRun(store, *run_id, *rounds_done);
  return played.ok() ? finished : played;
}

// Round `round`'s commit, as the loop writes it: rounds_done becomes
// round + 1, with the generator's checkpoint.
absl::Status Commit(store::StoreClient& store, const std::string& run_id,
                    uint32_t round, const std::string& checkpoint);

// kItemsPerRound items of `round` as a generator would publish them:
// ids round << 32 | i + 1, unit embeddings drawn from `seed`.
std::vector<v1::Item> ScenarioItems(uint64_t seed, uint32_t round);
// Whether user `user` engages the item at `position` of its slate in
// `round`: a fixed draw from `seed`, about one in three.
bool Engages(uint64_t seed, uint32_t round, uint32_t user, uint32_t position);
// The interactions of one round of slates (every position examined).
std::vector<v1::Interaction> InteractionsOf(uint64_t seed, uint32_t round,
                                            std::span<const v1::Slate> slates);

// One unary call with a deadline; a failure keeps its code, and its
// message says `what` answered which code.
template <typename Stub, typename Request, typename Response>
absl::Status Call(Stub* stub,
                  grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&,
                                               Response*),
                  const Request& request, Response* response, absl::Duration deadline,
                  const std::string& what) {
  grpc::ClientContext ctx;
  SetTimeout(&ctx, deadline);
  const absl::Status s = FromGrpcStatus((stub->*method)(&ctx, request, response));
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat(what, " answered ",
                                            absl::StatusCodeToString(s.code()), ": ", s.message()));
}

// What the kit saw instead of a requirement, as a failed outcome.
inline absl::Status Problem(std::string message) {
  return absl::FailedPreconditionError(std::move(message));
}

// "OK" or the code's name, for messages.
std::string CodeName(const absl::Status& s);
// OK when `s` has one of `codes`; otherwise an error saying what came
// instead (an OK answer included).
absl::Status ExpectCode(const absl::Status& s, std::initializer_list<absl::StatusCode> codes,
                        const std::string& what);

}  // namespace feedloop::conformance::internal

#endif  // FEEDLOOP_CONFORMANCE_SCENARIO_H_
