// RewardModel: what the generator asks when it selects among candidates.
// In the system it is the ranker's ScoreItems (RankerRewardModel, in
// generator/ranker_reward_model.h, the one that needs gRPC); tests
// substitute their own.

#ifndef FEEDLOOP_GENERATOR_REWARD_MODEL_H_
#define FEEDLOOP_GENERATOR_REWARD_MODEL_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/cancellation.h"

namespace feedloop::generator {

class RewardModel {
 public:
  virtual ~RewardModel() = default;
  // Predicted engagement of each row of `candidates` (rows of `dim`
  // floats) over `sample_users` users drawn with `seed`, as the model
  // stands when `round` is being generated, with the rows of `context`
  // (items of the same round already chosen) competing as if live. UNAVAILABLE when the model
  // cannot be reached; `cancel`'s status once the caller of the work that
  // asks has gone (its calls carry the caller's remaining deadline).
  virtual absl::StatusOr<std::vector<float>> Score(
      const std::string& run_id, uint32_t round,
      std::span<const float> candidates, std::span<const float> context,
      uint32_t dim, uint32_t sample_users,
      uint64_t seed, const Cancellation& cancel) = 0;
};

}  // namespace feedloop::generator

#endif  // FEEDLOOP_GENERATOR_REWARD_MODEL_H_
