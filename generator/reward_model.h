// RewardModel: what the generator asks when it selects among candidates.
// In the system it is the ranker's ScoreItems (RankerRewardModel); tests
// substitute their own.

#ifndef FEEDLOOP_GENERATOR_REWARD_MODEL_H_
#define FEEDLOOP_GENERATOR_REWARD_MODEL_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "feedloop/v1/ranker.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace feedloop::generator {

class RewardModel {
 public:
  virtual ~RewardModel() = default;
  // Predicted engagement of each row of `candidates` (rows of `dim`
  // floats) over `sample_users` users drawn with `seed`, as the model
  // stands when `round` is being generated. UNAVAILABLE when the model
  // cannot be reached.
  virtual absl::StatusOr<std::vector<float>> Score(
      const std::string& run_id, uint32_t round,
      std::span<const float> candidates, uint32_t dim, uint32_t sample_users,
      uint64_t seed) = 0;
};

// The ranker's ScoreItems over gRPC. Thread-safe.
class RankerRewardModel final : public RewardModel {
 public:
  explicit RankerRewardModel(std::shared_ptr<grpc::Channel> channel);
  absl::StatusOr<std::vector<float>> Score(const std::string& run_id,
                                           uint32_t round,
                                           std::span<const float> candidates,
                                           uint32_t dim, uint32_t sample_users,
                                           uint64_t seed) override;

 private:
  std::unique_ptr<v1::RankerService::Stub> stub_;
};

}  // namespace feedloop::generator

#endif  // FEEDLOOP_GENERATOR_REWARD_MODEL_H_
