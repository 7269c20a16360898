// Users: the simulated audience (docs/model.md). Each user has a true
// interest p_u (a Dirichlet-weighted mix of 1 to max_topics topic centres,
// plus noise, normalized), reads its slate top-down with position bias,
// engages an examined item with probability
// sigmoid(engage_slope * (a - engage_midpoint)), and stops after
// `attention` engagements. The affinity a is <p_u, e_i> less satiation:
// users tire of what they just consumed (a recency-weighted sum s_u of
// their engagements; see users.satiation), and recover. Interests may
// drift toward what was consumed.
//
//   Users users(config, space);
//   Consumption c = users.Consume(round, slate_user, item_vectors);
//   users.Absorb(consumed_by_user);   // drift and satiation, once a round
//
// The ranker never sees p_u; only the loop does. Every draw is seeded by
// (run seed, round, user), so results do not depend on threads.
// Consume is thread-safe for distinct users; Drift is not.

#ifndef FEEDLOOP_LOOP_USERS_H_
#define FEEDLOOP_LOOP_USERS_H_

#include <cstdint>
#include <span>
#include <vector>

#include "feedloop/v1/config.pb.h"
#include "model/consumption.h"
#include "model/topic_space.h"

namespace feedloop::loop {

using model::Consumption;

class Users {
 public:
  Users(const v1::ExperimentConfig& config, const model::TopicSpace& space);

  uint32_t count() const { return count_; }
  uint32_t dim() const { return dim_; }
  std::span<const float> Interest(uint32_t user) const {
    return {interest_.data() + size_t{user} * dim_, dim_};
  }
  // Every user's interest, row-major count x dim.
  std::span<const float> Interests() const { return interest_; }
  // True affinity <p_u, e> (what welfare counts).
  double Affinity(uint32_t user, std::span<const float> e) const;
  // The affinity that decides engagement: Affinity less satiation.
  double Appeal(uint32_t user, std::span<const float> e) const;

  // Reads a slate: `items[k]` is the embedding at position k.
  Consumption Consume(uint32_t round, uint32_t user,
                      std::span<const std::span<const float>> items) const;

  // What users engaged this round (unit embeddings per user) changes them:
  // each p_u moves by `drift` toward the mean of consumed[u] (users who
  // consumed nothing stay), and satiation decays by satiation_recovery and
  // then adds consumed[u].
  void Absorb(const std::vector<std::vector<std::span<const float>>>& consumed);

  // Mean cosine distance of p_u from its initial value, as |p - p0|^2 / 2
  // (equal for unit vectors): exactly 0 when nothing moved, never below.
  double MeanInterestDrift() const;

 private:
  const v1::UserConfig cfg_;
  const uint64_t seed_;
  const uint32_t count_;
  const uint32_t dim_;
  std::vector<float> interest_;
  std::vector<float> initial_;
  // Satiation s_u, count x dim; empty when users.satiation is 0.
  std::vector<float> satiation_;
};

}  // namespace feedloop::loop

#endif  // FEEDLOOP_LOOP_USERS_H_
