#include "generator/platform_model.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/vectors.h"
#include "model/topic_space.h"

namespace feedloop::generator {

PlatformModel::PlatformModel(uint32_t dim, std::span<const float> means,
                             double spread)
    : dim_(dim), means_(means.begin(), means.end()) {
  const size_t k = means.size() / dim;
  weights_.assign(k, 1.0 / static_cast<double>(k));
  spreads_.assign(k, spread);
  RefreshCumulative();
}

absl::StatusOr<PlatformModel> PlatformModel::FromState(
    uint32_t dim, std::span<const float> means, std::span<const double> weights,
    std::span<const double> spreads) {
  const size_t k = weights.size();
  if (dim == 0 || k == 0 || means.size() != k * dim || spreads.size() != k) {
    return absl::InvalidArgumentError(absl::StrCat(
        "platform model: ", means.size(), " mean values, ", k, " weights and ",
        spreads.size(), " spreads do not make components of dimension ", dim));
  }
  double total = 0;
  for (size_t i = 0; i < k; ++i) {
    if (!std::isfinite(weights[i]) || weights[i] < 0 || !std::isfinite(spreads[i]) ||
        spreads[i] < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "platform model: component ", i, " has a negative or non-finite weight or spread"));
    }
    total += weights[i];
  }
  if (!(total > 0)) {
    return absl::InvalidArgumentError("platform model: the weights sum to 0");
  }
  PlatformModel m(dim, means, 0);
  m.weights_.assign(weights.begin(), weights.end());
  m.spreads_.assign(spreads.begin(), spreads.end());
  m.RefreshCumulative();
  return m;
}

void PlatformModel::RefreshCumulative() {
  cumulative_.resize(weights_.size());
  double sum = 0;
  for (size_t k = 0; k < weights_.size(); ++k) {
    sum += weights_[k];
    cumulative_[k] = sum;
  }
}

void PlatformModel::Sample(Rng& rng, std::span<float> out) const {
  const double u = rng.Uniform() * cumulative_.back();
  size_t k = std::upper_bound(cumulative_.begin(), cumulative_.end(), u) -
             cumulative_.begin();
  k = std::min(k, weights_.size() - 1);
  model::DrawAround(mean(k), spreads_[k], rng, out);
}

void PlatformModel::Refit(std::span<const float> embeddings,
                          std::span<const double> weights, double rate) {
  if (rate <= 0) return;
  const size_t n = weights.size();
  const size_t k_count = weights_.size();
  std::vector<double> sum(k_count * dim_, 0.0);
  std::vector<double> mass(k_count, 0.0);
  std::vector<double> cos_sum(k_count, 0.0);
  double total = 0;
  for (size_t i = 0; i < n; ++i) {
    if (weights[i] <= 0) continue;
    const std::span<const float> e = embeddings.subspan(i * dim_, dim_);
    size_t best = 0;
    double best_ip = -2;
    for (size_t k = 0; k < k_count; ++k) {
      const double ip = Dot(e, mean(k));
      if (ip > best_ip) {
        best_ip = ip;
        best = k;
      }
    }
    for (uint32_t d = 0; d < dim_; ++d) sum[best * dim_ + d] += weights[i] * e[d];
    mass[best] += weights[i];
    cos_sum[best] += weights[i] * best_ip;
    total += weights[i];
  }
  if (total <= 0) return;
  for (size_t k = 0; k < k_count; ++k) {
    weights_[k] = (1 - rate) * weights_[k] + rate * mass[k] / total;
    if (mass[k] <= 0) continue;
    // Mean: blend toward the engaged items' direction.
    std::vector<double> target(sum.begin() + k * dim_,
                               sum.begin() + (k + 1) * dim_);
    if (!Normalize(std::span<double>(target))) continue;
    std::vector<double> blended(dim_);
    for (uint32_t d = 0; d < dim_; ++d) {
      blended[d] = (1 - rate) * means_[k * dim_ + d] + rate * target[d];
    }
    if (Normalize(std::span<double>(blended))) {
      for (uint32_t d = 0; d < dim_; ++d) {
        means_[k * dim_ + d] = static_cast<float>(blended[d]);
      }
    }
    // Spread: a sample at spread s has cos ~ 1/sqrt(1 + s^2) with its mean,
    // so the engaged items' mean cosine c gives s = sqrt(1/c^2 - 1).
    const double c = std::clamp(cos_sum[k] / mass[k], 0.05, 1.0);
    const double observed = std::sqrt(std::max(0.0, 1.0 / (c * c) - 1.0));
    spreads_[k] = (1 - rate) * spreads_[k] + rate * observed;
  }
  RefreshCumulative();
}

double PlatformModel::EffectiveComponents() const {
  double h = 0;
  for (double w : weights_) {
    if (w > 0) h -= w * std::log(w);
  }
  return std::exp(h);
}

}  // namespace feedloop::generator
