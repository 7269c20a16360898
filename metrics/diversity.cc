#include "metrics/diversity.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/vectors.h"

extern "C" {
// LAPACK's symmetric eigensolver (Debian's liblapack, which FAISS needs too).
void dsyev_(const char* jobz, const char* uplo, const int* n, double* a,
            const int* lda, double* w, double* work, const int* lwork,
            int* info);
}

namespace feedloop::metrics {

double MeanPairwiseDistance(std::span<const float> rows, uint32_t dim,
                            size_t max_pairs, Rng& rng) {
  const size_t n = dim == 0 ? 0 : rows.size() / dim;
  if (n < 2) return 0;
  auto row = [&](size_t i) { return rows.subspan(i * dim, dim); };
  const size_t all_pairs = n * (n - 1) / 2;
  double sum = 0;
  if (all_pairs <= max_pairs) {
    for (size_t i = 0; i < n; ++i) {
      for (size_t j = i + 1; j < n; ++j) sum += 1 - Dot(row(i), row(j));
    }
    return sum / all_pairs;
  }
  for (size_t p = 0; p < max_pairs; ++p) {
    const size_t i = rng.UniformInt(n);
    size_t j = rng.UniformInt(n - 1);
    if (j >= i) ++j;
    sum += 1 - Dot(row(i), row(j));
  }
  return sum / max_pairs;
}

double VendiScore(std::span<const float> rows, uint32_t dim) {
  const size_t n = dim == 0 ? 0 : rows.size() / dim;
  if (n == 0) return 0;
  const int d = static_cast<int>(dim);
  std::vector<double> m(size_t{dim} * dim, 0.0);
  for (size_t r = 0; r < n; ++r) {
    const float* x = rows.data() + r * dim;
    for (int i = 0; i < d; ++i) {
      for (int j = 0; j <= i; ++j) m[i * d + j] += double{x[i]} * x[j];
    }
  }
  for (int i = 0; i < d; ++i) {
    for (int j = 0; j <= i; ++j) {
      m[i * d + j] /= static_cast<double>(n);
      m[j * d + i] = m[i * d + j];
    }
  }
  std::vector<double> eigen(dim);
  int info = 0, lwork = -1;
  double query = 0;
  const char jobz = 'N', uplo = 'U';
  dsyev_(&jobz, &uplo, &d, m.data(), &d, eigen.data(), &query, &lwork, &info);
  lwork = static_cast<int>(query);
  std::vector<double> work(std::max(1, lwork));
  dsyev_(&jobz, &uplo, &d, m.data(), &d, eigen.data(), work.data(), &lwork,
         &info);
  if (info != 0) return 0;
  // Normalize by the trace (1 for unit rows; robust to rounding).
  double trace = 0;
  for (double e : eigen) trace += std::max(0.0, e);
  if (trace <= 0) return 0;
  double h = 0;
  for (double e : eigen) {
    const double p = std::max(0.0, e) / trace;
    if (p > 1e-15) h -= p * std::log(p);
  }
  return std::exp(h);
}

double NormalizedEntropy(std::span<const double> counts, size_t categories) {
  if (categories <= 1) return 0;
  const double total = std::accumulate(counts.begin(), counts.end(), 0.0);
  if (total <= 0) return 0;
  double h = 0;
  for (double c : counts) {
    if (c > 0) h -= (c / total) * std::log(c / total);
  }
  return h / std::log(static_cast<double>(categories));
}

double Gini(std::span<const double> values) {
  const size_t n = values.size();
  if (n == 0) return 0;
  std::vector<double> v(values.begin(), values.end());
  std::sort(v.begin(), v.end());
  double total = 0, weighted = 0;
  for (size_t i = 0; i < n; ++i) {
    total += v[i];
    weighted += static_cast<double>(i + 1) * v[i];
  }
  if (total <= 0) return 0;
  // G = (2 sum_i i x_(i)) / (n sum x) - (n + 1) / n, ranks from 1.
  return 2 * weighted / (n * total) - static_cast<double>(n + 1) / n;
}

double TopShare(std::span<const double> values, double fraction) {
  if (values.empty()) return 0;
  std::vector<double> v(values.begin(), values.end());
  const double total = std::accumulate(v.begin(), v.end(), 0.0);
  if (total <= 0) return 0;
  const size_t k = std::min(
      v.size(), static_cast<size_t>(std::ceil(fraction * v.size())));
  std::partial_sort(v.begin(), v.begin() + k, v.end(), std::greater<>());
  return std::accumulate(v.begin(), v.begin() + k, 0.0) / total;
}

std::optional<double> Jaccard(std::span<const uint64_t> a,
                              std::span<const uint64_t> b) {
  if (a.empty() && b.empty()) return std::nullopt;
  size_t common = 0, i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (a[i] < b[j]) {
      ++i;
    } else if (b[j] < a[i]) {
      ++j;
    } else {
      ++common, ++i, ++j;
    }
  }
  return static_cast<double>(common) /
         static_cast<double>(a.size() + b.size() - common);
}

double Quantile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const double pos = std::clamp(q, 0.0, 1.0) * (values.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(values.size() - 1, lo + 1);
  return values[lo] + (pos - lo) * (values[hi] - values[lo]);
}

}  // namespace feedloop::metrics

namespace feedloop::metrics {

std::optional<double> WeightedQuantile(std::span<const double> values,
                                       std::span<const double> weights, double q) {
  std::vector<size_t> order(values.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return values[a] < values[b]; });
  const double total = std::accumulate(weights.begin(), weights.end(), 0.0);
  if (total <= 0) return std::nullopt;
  const double target = std::clamp(q, 0.0, 1.0) * total;
  double cumulative = 0;
  for (size_t i : order) {
    cumulative += weights[i];
    if (cumulative >= target && weights[i] > 0) return values[i];
  }
  return values[order.back()];
}

}  // namespace feedloop::metrics

namespace feedloop::metrics {

Axes PrincipalAxes(std::span<const float> rows, uint32_t dim, uint32_t k,
                   double* explained) {
  Axes out;
  const size_t n = dim == 0 ? 0 : rows.size() / dim;
  if (n < 2 || k > dim || k == 0) return out;
  const int d = static_cast<int>(dim);
  out.mean.assign(dim, 0.0);
  for (size_t r = 0; r < n; ++r) {
    for (uint32_t i = 0; i < dim; ++i) out.mean[i] += rows[r * dim + i];
  }
  for (double& m : out.mean) m /= static_cast<double>(n);
  std::vector<double> c(size_t{dim} * dim, 0.0);
  for (size_t r = 0; r < n; ++r) {
    for (int i = 0; i < d; ++i) {
      const double xi = rows[r * dim + i] - out.mean[i];
      for (int j = 0; j <= i; ++j) c[i * d + j] += xi * (rows[r * dim + j] - out.mean[j]);
    }
  }
  for (int i = 0; i < d; ++i) {
    for (int j = 0; j <= i; ++j) c[j * d + i] = c[i * d + j] /= static_cast<double>(n - 1);
  }
  std::vector<double> eigen(dim);
  int info = 0, lwork = -1;
  double query = 0;
  const char jobz = 'V', uplo = 'U';
  dsyev_(&jobz, &uplo, &d, c.data(), &d, eigen.data(), &query, &lwork, &info);
  lwork = static_cast<int>(query);
  std::vector<double> work(std::max(1, lwork));
  dsyev_(&jobz, &uplo, &d, c.data(), &d, eigen.data(), work.data(), &lwork, &info);
  if (info != 0) return {};
  // Eigenvalues ascend; column j of the (column-major) result is vector j.
  double total = 0, kept = 0;
  for (double e : eigen) total += std::max(0.0, e);
  for (uint32_t a = 0; a < k; ++a) {
    const int j = d - 1 - static_cast<int>(a);
    kept += std::max(0.0, eigen[j]);
    std::vector<double> v(c.begin() + j * d, c.begin() + (j + 1) * d);
    const auto big = std::max_element(v.begin(), v.end(), [](double x, double y) {
      return std::abs(x) < std::abs(y);
    });
    if (*big < 0) {
      for (double& x : v) x = -x;
    }
    out.axes.insert(out.axes.end(), v.begin(), v.end());
  }
  if (explained != nullptr) *explained = total > 0 ? kept / total : 0;
  return out;
}

}  // namespace feedloop::metrics
