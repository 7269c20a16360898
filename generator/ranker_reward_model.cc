#include "generator/ranker_reward_model.h"

#include <algorithm>

#include "absl/time/clock.h"
#include "common/paging.h"
#include "common/status.h"
#include "config/limits.h"
#include "rpc/grpc_status.h"

namespace feedloop::generator {
namespace {

// Each call repeats the scoring users' slate views, so calls are as large
// as the 64 MiB message limit comfortably allows (half of it), not cut to
// the 4 MiB of a stream's chunk: 100000 rows below dim 84, 2048 at 4096.
constexpr size_t kMaxRequestBytes = size_t{32} << 20;

}  // namespace

RankerRewardModel::RankerRewardModel(std::shared_ptr<grpc::Channel> channel)
    : stub_(v1::RankerService::NewStub(std::move(channel))) {}

absl::StatusOr<std::vector<float>> RankerRewardModel::Score(
    const std::string& run_id, uint32_t round, std::span<const float> candidates,
    std::span<const float> context, uint32_t dim, uint32_t sample_users, uint64_t seed,
    const Cancellation& cancel) {
  if (dim == 0) return absl::InvalidArgumentError("dim: the candidates' dimension is 0");
  const size_t rows = candidates.size() / dim;
  std::vector<float> out;
  out.reserve(rows);
  // Every call samples the same users (by seed), carries the same context
  // and scores each candidate against them alone, so the split does not
  // change scores.
  // ... and each call's work ((rows + context rows) x users x dim) within
  // the ranker's limit, counting every sampled user (the run may have
  // fewer): the context gets at most half of it, the candidates the rest.
  const size_t by_work = static_cast<size_t>(std::max<uint64_t>(
      2, config::kMaxScoreWork / (uint64_t{std::max<uint32_t>(sample_users, 1)} * dim)));
  const size_t budget = RowsPerChunk(size_t{dim} * sizeof(float),
                                     std::min(config::kMaxScoreRows, by_work),
                                     kMaxRequestBytes);
  const size_t context_rows = context.size() / dim;
  const size_t half = std::max<size_t>(1, budget / 2);
  const size_t stride = context_rows <= half ? 1 : (context_rows + half - 1) / half;
  std::vector<float> thinned;
  for (size_t r = 0; r < context_rows; r += stride) {
    thinned.insert(thinned.end(), context.begin() + r * dim, context.begin() + (r + 1) * dim);
  }
  const size_t per_call = std::max<size_t>(1, budget - thinned.size() / dim);
  for (size_t first = 0; first < rows; first += per_call) {
    const size_t n = std::min(per_call, rows - first);
    v1::ScoreItemsRequest req;
    req.set_run_id(run_id);
    req.set_round(round);  // a ranker replica catches up to it
    req.set_sample_users(sample_users);
    req.set_seed(seed);
    req.set_dim(dim);
    req.mutable_candidates()->Add(candidates.begin() + first * dim,
                                  candidates.begin() + (first + n) * dim);
    req.mutable_context()->Add(thinned.begin(), thinned.end());
    FEEDLOOP_RETURN_IF_ERROR(cancel.Check());
    grpc::ClientContext ctx;
    // The caller's remaining deadline, at most a minute per call.
    ctx.set_deadline(absl::ToChronoTime(cancel.DeadlineWithin(absl::Seconds(60))));
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
