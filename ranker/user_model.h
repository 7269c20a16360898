// UserModel: what the ranker believes about its users, the second of its
// three jobs. It never sees true interests; it learns an estimate q_u from
// feedback (an engagement pulls q_u toward the item by learning_rate, a
// skip pushes it away by skip_rate), starting from the prior (the live
// items' mean direction) at the user's first feedback, and ranks by its
// direction (relevance is a cosine, on the oracle's scale). Users without
// feedback are ranked by the prior's direction.
// It also remembers what each user was shown, for the seen filter.
//
//   UserModel users(config);
//   users.SetPrior(pool.MeanVector());
//   users.Learn(sorted_interactions, pool);
//   std::span<const float> q = users.Query(u);   // empty: no query
//
// Not thread-safe: the Ranker serializes writes and shares reads.

#ifndef FEEDLOOP_RANKER_USER_MODEL_H_
#define FEEDLOOP_RANKER_USER_MODEL_H_

#include <cstdint>
#include <span>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "feedloop/v1/config.pb.h"
#include "feedloop/v1/types.pb.h"
#include "ranker/item_pool.h"

namespace feedloop::ranker {

class UserModel {
 public:
  explicit UserModel(const v1::ExperimentConfig& config);

  uint32_t count() const { return count_; }
  // Whether the user has had any feedback.
  bool Known(uint32_t user) const { return known_[user]; }
  uint64_t known_users() const { return known_users_; }

  // The cold-start prior (ITEM_MEAN: the live items' mean; ZERO: none).
  void SetPrior(std::vector<float> prior);
  // The user's query vector (unit): the learned estimate's direction, else
  // the prior's; empty when neither exists (a ZERO prior).
  std::span<const float> Query(uint32_t user) const;

  // Applies one round's interactions, in the order given (the caller sorts
  // them by user and position, so that live feedback and a replay agree):
  // engagements move q_u by learning_rate toward the item, skips move it
  // by skip_rate away; every examined item joins the user's seen set.
  // Every item must be live in `pool`.
  void Learn(std::span<const v1::Interaction> sorted, const ItemPool& pool);

  // Whether the user was shown `id` (and it is still remembered).
  bool Seen(uint32_t user, uint64_t id) const { return seen_[user].contains(id); }
  size_t SeenCount(uint32_t user) const { return seen_[user].size(); }
  // Forgets seen ids that are no longer live (they can never be shown).
  void ForgetExpired(std::span<const uint64_t> expired);

 private:
  const v1::RankerConfig rc_;
  const uint32_t dim_;
  const uint32_t count_;
  std::vector<float> q_;     // count_ x dim_: the learned estimates
  std::vector<float> unit_;  // count_ x dim_: their directions
  std::vector<bool> known_;
  std::vector<bool> has_unit_;  // the estimate is not the zero vector
  uint64_t known_users_ = 0;
  std::vector<float> prior_;
  bool prior_is_zero_ = true;
  std::vector<absl::flat_hash_set<uint64_t>> seen_;
};

}  // namespace feedloop::ranker

#endif  // FEEDLOOP_RANKER_USER_MODEL_H_
