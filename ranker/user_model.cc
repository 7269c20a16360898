#include "ranker/user_model.h"

#include <algorithm>

#include "common/vectors.h"

namespace feedloop::ranker {

UserModel::UserModel(const v1::ExperimentConfig& config)
    : rc_(config.ranker()),
      dim_(config.space().dim()),
      count_(config.users().count()),
      q_(size_t{count_} * dim_, 0.0f),
      unit_(size_t{count_} * dim_, 0.0f),
      known_(count_, false),
      has_unit_(count_, false),
      prior_(dim_, 0.0f),
      seen_(count_) {}

void UserModel::SetPrior(std::vector<float> prior) {
  prior_ = std::move(prior);
  prior_is_zero_ = rc_.prior() != v1::RankerConfig::ITEM_MEAN ||
                   !Normalize(std::span<float>(prior_));
  if (prior_is_zero_) std::fill(prior_.begin(), prior_.end(), 0.0f);
}

std::span<const float> UserModel::Query(uint32_t user) const {
  if (known_[user] && has_unit_[user]) return {unit_.data() + size_t{user} * dim_, dim_};
  if (prior_is_zero_) return {};
  return prior_;
}

void UserModel::Learn(std::span<const v1::Interaction> sorted, const ItemPool& pool) {
  const float lr = static_cast<float>(rc_.learning_rate());
  const float skip = static_cast<float>(rc_.skip_rate());
  std::vector<uint32_t> touched;
  for (const v1::Interaction& x : sorted) {
    if (rc_.seen_filter()) seen_[x.user_id()].insert(x.item_id());
    if (!x.engaged() && skip == 0) continue;
    float* q = q_.data() + size_t{x.user_id()} * dim_;
    if (touched.empty() || touched.back() != x.user_id()) touched.push_back(x.user_id());
    if (!known_[x.user_id()]) {
      // The estimate starts at the population prior and moves with the
      // user's own evidence (shrinkage): one engagement does not make a
      // profile.
      std::copy(prior_.begin(), prior_.end(), q);
      known_[x.user_id()] = true;
      ++known_users_;
    }
    const float* e = pool.Vector(x.item_id());
    if (x.engaged()) {
      for (uint32_t d = 0; d < dim_; ++d) q[d] += lr * (e[d] - q[d]);
    } else {
      for (uint32_t d = 0; d < dim_; ++d) q[d] -= skip * e[d];
    }
  }
  // Relevance is a cosine: the estimate's direction, on the scale of the
  // oracle's true interests, however much feedback it rests on.
  for (uint32_t u : touched) {
    float* unit = unit_.data() + size_t{u} * dim_;
    const float* q = q_.data() + size_t{u} * dim_;
    std::copy(q, q + dim_, unit);
    has_unit_[u] = Normalize(std::span<float>(unit, dim_));
  }
}

void UserModel::ForgetExpired(std::span<const uint64_t> expired) {
  if (expired.empty() || !rc_.seen_filter()) return;
  const absl::flat_hash_set<uint64_t> gone(expired.begin(), expired.end());
  for (auto& seen : seen_) {
    if (seen.empty()) continue;
    absl::erase_if(seen, [&](uint64_t id) { return gone.contains(id); });
  }
}

}  // namespace feedloop::ranker
