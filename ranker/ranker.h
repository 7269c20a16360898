// Ranker: one run's ranking state and logic, in-process. The gRPC service
// (ranker_service.h) holds one per open run.
//
//   FEEDLOOP_ASSIGN_OR_RETURN(auto ranker, Ranker::Create(config, options));
//   FEEDLOOP_RETURN_IF_ERROR(ranker->AdvanceRound(0, round0_items));
//   std::vector<v1::Slate> slates;
//   FEEDLOOP_RETURN_IF_ERROR(ranker->RankBatch(users, 0, &slates));
//   FEEDLOOP_RETURN_IF_ERROR(ranker->RecordFeedback(0, interactions));
//
// The model (docs/model.md): score = w_rel * <q_u, e_i> + w_pop *
// popularity_i + w_fresh * freshness_i, where q_u is the ranker's learned
// estimate of user u; it never sees true interests (except that the ORACLE
// variant ranks with the true interest the caller sends). Popularity is a
// decayed engagement count scaled to [0, 1]; freshness halves every
// freshness_half_life rounds. Three jobs, one class each: the item pool
// (ranker/item_pool.h: the index, liveness, popularity, freshness), the
// user model (ranker/user_model.h: q_u and what each user has seen), and
// the slate policy (ranker/slate_policy.h: MMR, temperature, and what a
// new item would earn under them). This class adds the seen filter, cold
// start, epsilon-exploration, and the locking.
//
// The state is a deterministic function of the sequence of AdvanceRound and
// RecordFeedback calls: replaying the store's items and interactions in
// round order rebuilds it exactly (this is how a restarted ranker recovers).
// Results do not depend on thread counts or batch sizes.
//
// Thread-safe: RankBatch, Retrieve and ScoreItems run concurrently with each
// other; AdvanceRound and RecordFeedback are exclusive.

#ifndef FEEDLOOP_RANKER_RANKER_H_
#define FEEDLOOP_RANKER_RANKER_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/cancellation.h"
#include "common/thread_pool.h"
#include "config/limits.h"
#include "feedloop/v1/config.pb.h"
#include "feedloop/v1/ranker.pb.h"
#include "feedloop/v1/types.pb.h"
#include "google/protobuf/repeated_field.h"
#include "common/random.h"
#include "ranker/item_pool.h"
#include "ranker/slate_policy.h"
#include "ranker/user_model.h"
#include "ranker/vector_index.h"

namespace feedloop::ranker {

class Ranker {
 public:
  struct Options {
    // Fans each RankBatch out over users; borrowed, may be null (then the
    // calling thread does all the work). Default: null.
    ThreadPool* pool = nullptr;
    // OpenMP threads FAISS may use per search; 0 means FAISS's default.
    // Default: 0.
    int search_threads = 0;
    // Most users in one RankBatch. Default: config::kMaxRankUsers.
    size_t max_batch_users = config::kMaxRankUsers;
    // Most query rows in one Retrieve. Default: config::kMaxQueryRows.
    size_t max_query_rows = config::kMaxQueryRows;
    // Most candidate rows in one ScoreItems. Default: config::kMaxScoreRows.
    size_t max_batch_rows = config::kMaxScoreRows;
  };

  struct State {
    // The round the ranker is at; nullopt before the first AdvanceRound.
    std::optional<uint32_t> round;
    // The last round whose feedback was recorded; nullopt before any.
    std::optional<uint32_t> feedback_round;
    uint64_t live_items = 0;
    uint64_t known_users = 0;
    uint64_t added = 0;    // by the last AdvanceRound
    uint64_t expired = 0;  // by the last AdvanceRound
    uint64_t index_rebuilds = 0;
  };

  // `config` is the run's resolved config. INVALID_ARGUMENT naming the
  // field when a ranker setting is out of range.
  static absl::StatusOr<std::unique_ptr<Ranker>> Create(
      const v1::ExperimentConfig& config, const Options& options);

  Ranker(const Ranker&) = delete;
  Ranker& operator=(const Ranker&) = delete;

  // Moves to `round` (0 first, then one at a time): expires items published
  // at or before round - item_ttl_rounds, decays popularity, and indexes
  // `items`, the round's new items. FAILED_PRECONDITION for a round out of
  // order; INVALID_ARGUMENT naming a bad item (wrong dimension, not finite,
  // duplicate id, id >= 2^63, item round != round). Nothing changes then.
  absl::Status AdvanceRound(uint32_t round, std::span<const v1::Item> items);
  // The same for the items held compactly (how a round is read from the
  // store, a chunk at a time).
  absl::Status AdvanceRound(uint32_t round, ItemPool::NewItems items);

  // Slates for `users`, in order. slate_size 0 means users.slate_size.
  // INVALID_ARGUMENT for an oversized batch, a slate size out of range, an
  // unknown user id, a missing or bad true_interest under ORACLE, or a user
  // without feedback when cold start is off; `cancel`'s status once the
  // caller has gone (checked between batches of users).
  absl::Status RankBatch(
      const google::protobuf::RepeatedPtrField<v1::UserQuery>& users,
      uint32_t slate_size, std::vector<v1::Slate>* out,
      const Cancellation& cancel = {}) const;

  // Raw nearest live items by inner product for each query row.
  // INVALID_ARGUMENT past config/limits.h's Retrieve limits.
  absl::Status Retrieve(std::span<const float> queries, uint32_t k,
                        std::vector<Neighbors>* out) const;

  // The reward model of the generator: each candidate row's expected
  // engagements per user, averaged over `user_ids`, or when empty over
  // `sample_users` users drawn with `seed`, as a new item of the next round
  // under the current slate policy: the chance the user examines it in the
  // slate it would enter (SlatePolicy::ExpectedExamination: its retrieval,
  // position, MMR, temperature, exploration) times the predicted engagement
  // sigmoid(reward_slope * (<q_u, c> - reward_midpoint)). The rows of
  // `context` are items entering the same round (the round's items chosen
  // so far): each user's slate is built as if they were live, so a
  // candidate competes with them.
  // INVALID_ARGUMENT past config/limits.h's ScoreItems limits (rows and
  // context rows, users, users x dim, (rows + context rows) x users x dim);
  // `cancel`'s status once the caller has gone (checked between batches of
  // users and chunks of rows).
  absl::StatusOr<std::vector<float>> ScoreItems(
      std::span<const float> candidates, std::span<const float> context,
      std::span<const uint32_t> user_ids,
      uint32_t sample_users, uint64_t seed, const Cancellation& cancel = {}) const;

  // The round's impressions and engagements: engagements raise popularity
  // and pull q_u toward the item; skips push it away by skip_rate. Applied
  // in (user, position) order whatever the order sent. `round` must be the
  // current round, and each round's feedback is recorded once
  // (ALREADY_EXISTS on a repeat, so a retried call is recognizable).
  absl::Status RecordFeedback(uint32_t round,
                              std::span<const v1::Interaction> interactions);

  State state() const;
  // The run's embedding dimension (space.dim).
  uint32_t dim() const { return dim_; }
  // The learned estimate of a user (the prior when it has no feedback).
  std::vector<float> UserEstimate(uint32_t user_id) const;

 private:
  Ranker(const v1::ExperimentConfig& config, const Options& options,
         std::unique_ptr<ItemPool> pool);

  // A user's candidates at `at_round` as the slate policy sees them:
  // retrieved by `query` (or the popular order when it is empty), without
  // items the user has seen or that are not live at `at_round`, at most
  // ranker.candidates of them, scored. `floor` gets what a new item must
  // reach to be among them: the last candidate's relevance (or score, by
  // popularity), or -inf when there is room.
  void CandidatesOf(uint32_t user, std::span<const float> query,
                    const Neighbors* retrieved, uint32_t at_round,
                    std::vector<SlatePolicy::Candidate>* out, double* floor) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // `count` distinct random live items the user has not seen, avoiding
  // `taken`, drawn with `rng`.
  std::vector<uint64_t> RandomUnseen(uint32_t user, size_t count,
                                     const std::vector<uint64_t>& taken, Rng& rng) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void RankOne(const v1::UserQuery& query, const Neighbors* retrieved,
               uint32_t slate_size, v1::Slate* slate) const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  const v1::ExperimentConfig config_;
  const v1::RankerConfig& rc_;
  const Options options_;
  const uint32_t dim_;
  const uint32_t num_users_;
  const SlatePolicy policy_;

  mutable absl::Mutex mu_;
  std::unique_ptr<ItemPool> pool_ ABSL_GUARDED_BY(mu_);
  UserModel users_ ABSL_GUARDED_BY(mu_);
  std::optional<uint32_t> feedback_round_ ABSL_GUARDED_BY(mu_);
};

}  // namespace feedloop::ranker

#endif  // FEEDLOOP_RANKER_RANKER_H_
