// Diversity metrics as small pure functions (DESIGN.md section 4). Cosine
// distance is 1 - <a, b> on unit vectors. Embeddings are row-major spans of
// `dim` floats. Every function is deterministic; sampled ones take an Rng.
//
//   double d = MeanPairwiseDistance(rows, dim, /*max_pairs=*/2000, rng);
//   double v = VendiScore(rows, dim);
//   double g = Gini(impressions);
//
// Empty or too-small inputs return 0 unless stated otherwise.

#ifndef FEEDLOOP_METRICS_DIVERSITY_H_
#define FEEDLOOP_METRICS_DIVERSITY_H_

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "common/random.h"

namespace feedloop::metrics {

// Mean cosine distance over pairs of distinct rows: every pair when there
// are at most `max_pairs`, otherwise `max_pairs` pairs drawn with `rng`.
double MeanPairwiseDistance(std::span<const float> rows, uint32_t dim,
                            size_t max_pairs, Rng& rng);

// Vendi score: exp of the Shannon entropy of the eigenvalues of X^T X / n,
// the d x d second-moment matrix of unit rows (its trace is 1). 1 for
// identical rows, d for rows spread evenly over d orthogonal directions.
double VendiScore(std::span<const float> rows, uint32_t dim);

// Shannon entropy of `counts` divided by log(categories); 0 when
// categories <= 1 or the counts sum to 0.
double NormalizedEntropy(std::span<const double> counts, size_t categories);

// Gini coefficient of non-negative values: 0 when all equal, approaching 1
// when one holds everything ((n - 1) / n for n values). 0 for no values or
// an all-zero total: callers decide whether that case is defined.
double Gini(std::span<const double> values);

// Share of the total held by the largest ceil(fraction * n) values.
double TopShare(std::span<const double> values, double fraction);

// |a intersect b| / |a union b| of two sorted, distinct id lists; nullopt
// when both are empty (there is nothing to compare).
std::optional<double> Jaccard(std::span<const uint64_t> a,
                              std::span<const uint64_t> b);

// The q-quantile (0..1) by linear interpolation; 0 for no values.
double Quantile(std::vector<double> values, double q);

// The weighted q-quantile: the smallest value v such that the values <= v
// hold at least q of the total weight. Weights are non-negative; nullopt
// when they sum to 0.
std::optional<double> WeightedQuantile(std::span<const double> values,
                                       std::span<const double> weights, double q);

// The principal axes of `rows`: their mean, and the `k` unit eigenvectors
// of their covariance with the largest eigenvalues (row-major, k x dim),
// largest first, each signed so that its largest coordinate is positive.
// `explained` (may be null) gets the share of variance they hold. Empty
// when there are fewer than 2 rows or k > dim.
struct Axes {
  std::vector<double> mean;
  std::vector<double> axes;
};
Axes PrincipalAxes(std::span<const float> rows, uint32_t dim, uint32_t k,
                   double* explained);

}  // namespace feedloop::metrics

#endif  // FEEDLOOP_METRICS_DIVERSITY_H_
