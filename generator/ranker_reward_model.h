// RankerRewardModel: the generator's RewardModel as the ranker's ScoreItems
// over gRPC.
//
//   RankerRewardModel reward(CreateChannel(ranker_address));
//
// Thread-safe.

#ifndef FEEDLOOP_GENERATOR_RANKER_REWARD_MODEL_H_
#define FEEDLOOP_GENERATOR_RANKER_REWARD_MODEL_H_

#include <memory>

#include "feedloop/v1/ranker.grpc.pb.h"
#include "generator/reward_model.h"
#include "grpcpp/grpcpp.h"

namespace feedloop::generator {

// Every call carries the context; a context larger than half of a call's
// budget (rows x users x dim, and bytes) is thinned to every k-th row,
// deterministically, so that candidates keep the other half.
class RankerRewardModel final : public RewardModel {
 public:
  explicit RankerRewardModel(std::shared_ptr<grpc::Channel> channel);
  absl::StatusOr<std::vector<float>> Score(const std::string& run_id,
                                           uint32_t round,
                                           std::span<const float> candidates,
                                           std::span<const float> context,
                                           uint32_t dim, uint32_t sample_users,
                                           uint64_t seed,
                                           const Cancellation& cancel) override;

 private:
  std::unique_ptr<v1::RankerService::Stub> stub_;
};

}  // namespace feedloop::generator

#endif  // FEEDLOOP_GENERATOR_RANKER_REWARD_MODEL_H_
