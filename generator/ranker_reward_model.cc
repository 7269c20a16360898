#include "generator/ranker_reward_model.h"

#include <algorithm>

#include "absl/time/clock.h"
#include "common/paging.h"
#include "common/status.h"
#include "rpc/grpc_status.h"

namespace feedloop::generator {
namespace {

// The ranker takes at most 100000 candidate rows per ScoreItems call.
constexpr size_t kMaxRowsPerCall = 100000;
// Each call repeats the scoring users' slate views, so calls are as large
// as the 64 MiB message limit comfortably allows (half of it), not cut to
// the 4 MiB of a stream's chunk: 100000 rows below dim 84, 2048 at 4096.
constexpr size_t kMaxRequestBytes = size_t{32} << 20;

}  // namespace

RankerRewardModel::RankerRewardModel(std::shared_ptr<grpc::Channel> channel)
    : stub_(v1::RankerService::NewStub(std::move(channel))) {}

absl::StatusOr<std::vector<float>> RankerRewardModel::Score(
    const std::string& run_id, uint32_t round, std::span<const float> candidates,
    uint32_t dim, uint32_t sample_users, uint64_t seed) {
  const size_t rows = dim == 0 ? 0 : candidates.size() / dim;
  std::vector<float> out;
  out.reserve(rows);
  // Every call samples the same users (by seed) and scores each candidate
  // alone, so the split does not change scores.
  const size_t per_call =
      RowsPerChunk(size_t{dim} * sizeof(float), kMaxRowsPerCall, kMaxRequestBytes);
  for (size_t first = 0; first < rows; first += per_call) {
    const size_t n = std::min(per_call, rows - first);
    v1::ScoreItemsRequest req;
    req.set_run_id(run_id);
    req.set_round(round);  // a ranker replica catches up to it
    req.set_sample_users(sample_users);
    req.set_seed(seed);
    req.mutable_candidates()->Add(candidates.begin() + first * dim,
                                  candidates.begin() + (first + n) * dim);
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
    v1::ScoreItemsResponse resp;
    FEEDLOOP_RETURN_IF_ERROR(
        Annotate(FromGrpcStatus(stub_->ScoreItems(&ctx, req, &resp)),
                 "ranker ScoreItems"));
    if (static_cast<size_t>(resp.scores_size()) != n) {
      return absl::InternalError("ranker ScoreItems: wrong number of scores");
    }
    out.insert(out.end(), resp.scores().begin(), resp.scores().end());
  }
  return out;
}

}  // namespace feedloop::generator
