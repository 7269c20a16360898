// PlatformModel: the platform's own generative model, a mixture of
// directions on the sphere. Component k has a unit mean mu_k, a weight pi_k
// and a spread sigma_k; a sample is normalize(mu_k + sigma_k * eps).
//
// Refit(engaged, rate) is the model-collapse path: each engaged item is
// assigned to its nearest component, and means, weights and spreads move by
// `rate` toward what the engaged items show. Components nobody engages with
// lose weight; a narrow engaged set shrinks the spreads. Fit on its own
// ranked output round after round, the model forgets its tails.
//
// Not thread-safe; one Generator owns it.

#ifndef FEEDLOOP_GENERATOR_PLATFORM_MODEL_H_
#define FEEDLOOP_GENERATOR_PLATFORM_MODEL_H_

#include <cstdint>
#include <span>
#include <vector>

#include "absl/status/statusor.h"
#include "common/random.h"

namespace feedloop::generator {

class PlatformModel {
 public:
  // One component per row of `means` (unit rows of `dim`), equal weights,
  // all with spread `spread`.
  PlatformModel(uint32_t dim, std::span<const float> means, double spread);

  // A model as it stood: `means` (components x dim), one weight and one
  // spread per component. INVALID_ARGUMENT when the sizes disagree or a
  // weight or spread is negative or not finite.
  static absl::StatusOr<PlatformModel> FromState(uint32_t dim,
                                                 std::span<const float> means,
                                                 std::span<const double> weights,
                                                 std::span<const double> spreads);

  // Writes one sample to `out` (dim floats).
  void Sample(Rng& rng, std::span<float> out) const;

  // Moves the model by `rate` in [0, 1] toward the engaged items: rows of
  // `embeddings` with positive `weights` (engagement counts). Rate 0 or no
  // engaged item leaves it unchanged.
  void Refit(std::span<const float> embeddings, std::span<const double> weights,
             double rate);

  size_t components() const { return weights_.size(); }
  double weight(size_t k) const { return weights_[k]; }
  double spread(size_t k) const { return spreads_[k]; }
  std::span<const float> mean(size_t k) const {
    return {means_.data() + k * dim_, dim_};
  }
  // exp(entropy of the weights): how many components effectively remain.
  double EffectiveComponents() const;

 private:
  uint32_t dim_;
  std::vector<float> means_;
  std::vector<double> weights_;
  std::vector<double> spreads_;
  std::vector<double> cumulative_;  // for sampling
  void RefreshCumulative();
};

}  // namespace feedloop::generator

#endif  // FEEDLOOP_GENERATOR_PLATFORM_MODEL_H_
