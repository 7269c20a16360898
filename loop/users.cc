#include "loop/users.h"

#include <algorithm>
#include <cmath>

#include "common/random.h"
#include "common/vectors.h"

namespace feedloop::loop {
namespace {

constexpr uint64_t kInterestStream = 0x05e1;
constexpr uint64_t kConsumeStream = 0x05e2;

}  // namespace

Users::Users(const v1::ExperimentConfig& config, const model::TopicSpace& space)
    : cfg_(config.users()),
      seed_(config.seed()),
      count_(config.users().count()),
      dim_(config.space().dim()),
      interest_(size_t{count_} * dim_) {
  const uint32_t topics = space.topics();
  for (uint32_t u = 0; u < count_; ++u) {
    Rng rng(DeriveSeed(seed_, kInterestStream, u));
    const uint32_t k = 1 + static_cast<uint32_t>(rng.UniformInt(
                               std::min(cfg_.max_topics(), topics)));
    const std::vector<uint64_t> chosen = rng.SampleWithoutReplacement(topics, k);
    const std::vector<double> w =
        rng.Dirichlet(static_cast<int>(k), cfg_.dirichlet_concentration());
    std::vector<double> p(dim_, 0.0);
    for (uint32_t j = 0; j < k; ++j) {
      const auto c = space.Centre(static_cast<uint32_t>(chosen[j]));
      for (uint32_t d = 0; d < dim_; ++d) p[d] += w[j] * c[d];
    }
    const double noise = cfg_.interest_noise() / std::sqrt(static_cast<double>(dim_));
    for (uint32_t d = 0; d < dim_; ++d) p[d] += noise * rng.Normal();
    if (!Normalize(std::span<double>(p))) p[0] = 1;
    for (uint32_t d = 0; d < dim_; ++d) {
      interest_[size_t{u} * dim_ + d] = static_cast<float>(p[d]);
    }
  }
  initial_ = interest_;
  if (cfg_.satiation() > 0) satiation_.assign(interest_.size(), 0.0f);
}

double Users::Affinity(uint32_t user, std::span<const float> e) const {
  return Dot(Interest(user), e);
}

double Users::Appeal(uint32_t user, std::span<const float> e) const {
  const double a = Affinity(user, e);
  if (satiation_.empty()) return a;
  const double tired = Dot(std::span<const float>(satiation_.data() + size_t{user} * dim_, dim_), e);
  return a - cfg_.satiation() * (1 - cfg_.satiation_recovery()) * std::max(0.0, tired) /
                 cfg_.attention();
}

Consumption Users::Consume(uint32_t round, uint32_t user,
                           std::span<const std::span<const float>> items) const {
  Consumption c;
  Rng rng(DeriveSeed(seed_, kConsumeStream, round, user));
  uint32_t engagements = 0;
  for (size_t k = 0; k < items.size(); ++k) {
    // Cascade: position 0 is examined; each next one with position_decay,
    // so position k is examined with probability decay^k.
    if (k > 0 && rng.Uniform() >= cfg_.position_decay()) break;
    const double a = Appeal(user, items[k]);
    const double p =
        1 / (1 + std::exp(-cfg_.engage_slope() * (a - cfg_.engage_midpoint())));
    const bool engaged = rng.Uniform() < p;
    c.positions.push_back(static_cast<uint32_t>(k));
    c.engaged.push_back(engaged);
    if (engaged && ++engagements >= cfg_.attention()) break;
  }
  return c;
}

void Users::Absorb(
    const std::vector<std::vector<std::span<const float>>>& consumed) {
  if (!satiation_.empty()) {
    const float keep = static_cast<float>(cfg_.satiation_recovery());
    for (uint32_t u = 0; u < count_; ++u) {
      float* s = satiation_.data() + size_t{u} * dim_;
      for (uint32_t d = 0; d < dim_; ++d) s[d] *= keep;
      if (u >= consumed.size()) continue;
      for (const auto& e : consumed[u]) {
        for (uint32_t d = 0; d < dim_; ++d) s[d] += e[d];
      }
    }
  }
  const double eta = cfg_.drift();
  if (eta <= 0) return;
  for (uint32_t u = 0; u < count_ && u < consumed.size(); ++u) {
    if (consumed[u].empty()) continue;
    std::vector<double> mean(dim_, 0.0);
    for (const auto& e : consumed[u]) {
      for (uint32_t d = 0; d < dim_; ++d) mean[d] += e[d];
    }
    if (!Normalize(std::span<double>(mean))) continue;
    float* p = interest_.data() + size_t{u} * dim_;
    std::vector<double> next(dim_);
    for (uint32_t d = 0; d < dim_; ++d) next[d] = (1 - eta) * p[d] + eta * mean[d];
    if (!Normalize(std::span<double>(next))) continue;
    for (uint32_t d = 0; d < dim_; ++d) p[d] = static_cast<float>(next[d]);
  }
}

double Users::MeanInterestDrift() const {
  // 1 - <a, b> for unit vectors, computed as |a - b|^2 / 2: exactly 0 for
  // an interest that never moved, and never negative.
  double sum = 0;
  for (size_t i = 0; i < interest_.size(); ++i) {
    const double d = double{interest_[i]} - initial_[i];
    sum += d * d;
  }
  return count_ ? sum / 2 / count_ : 0;
}

}  // namespace feedloop::loop
