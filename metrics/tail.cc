#include "metrics/tail.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "metrics/diversity.h"

extern "C" {
// BLAS (Debian's OpenBLAS, which FAISS links too).
void sgemm_(const char* transa, const char* transb, const int* m, const int* n,
            const int* k, const float* alpha, const float* a, const int* lda,
            const float* b, const int* ldb, const float* beta, float* c,
            const int* ldc);
}

namespace feedloop::metrics {

void InnerProducts(std::span<const float> a, std::span<const float> b,
                   uint32_t dim, std::vector<float>* c) {
  const int d = static_cast<int>(dim);
  const int na = static_cast<int>(a.size() / dim);
  const int nb = static_cast<int>(b.size() / dim);
  c->assign(size_t(na) * nb, 0.0f);
  if (na == 0 || nb == 0) return;
  // Column-major view: C^T (nb x na) = B (nb x d) . A^T (d x na).
  const float one = 1, zero = 0;
  const char t = 'T', n = 'N';
  sgemm_(&t, &n, &nb, &na, &d, &one, b.data(), &d, a.data(), &d, &zero,
         c->data(), &nb);
}

std::vector<double> KnnRadii(std::span<const float> rows, uint32_t dim, uint32_t k) {
  const size_t n = rows.size() / dim;
  std::vector<float> gram;
  InnerProducts(rows, rows, dim, &gram);
  std::vector<double> radius(n);
  std::vector<double> dist(n - 1);
  for (size_t i = 0; i < n; ++i) {
    size_t m = 0;
    for (size_t j = 0; j < n; ++j) {
      if (j != i) dist[m++] = std::max(0.0, 1.0 - gram[i * n + j]);
    }
    std::nth_element(dist.begin(), dist.begin() + (k - 1), dist.end());
    radius[i] = dist[k - 1];
  }
  return radius;
}

std::vector<double> KnnDistancesTo(std::span<const float> rows, std::span<const float> to,
                                   uint32_t dim, uint32_t k) {
  const size_t n = rows.size() / dim, m = to.size() / dim;
  std::vector<float> ip;
  InnerProducts(rows, to, dim, &ip);
  std::vector<double> out(n);
  std::vector<double> dist(m);
  for (size_t i = 0; i < n; ++i) {
    for (size_t j = 0; j < m; ++j) dist[j] = std::max(0.0, 1.0 - ip[i * m + j]);
    std::nth_element(dist.begin(), dist.begin() + (k - 1), dist.end());
    out[i] = dist[k - 1];
  }
  return out;
}

TailReference TailReference::Build(std::span<const float> rows,
                                   const Options& options) {
  TailReference ref;
  ref.dim_ = options.dim;
  ref.k_ = std::max<uint32_t>(1, options.neighbors);
  const uint32_t dim = options.dim;
  const uint32_t k = ref.k_;
  const size_t n = dim == 0 ? 0 : rows.size() / dim;
  // Split: a seeded permutation; the first half (capped) is R, the rest H.
  Rng rng(options.seed);
  const std::vector<uint64_t> order = rng.SampleWithoutReplacement(n, n);
  const size_t r_size = std::min<size_t>(n / 2, options.max_reference);
  if (r_size <= k) {
    ref.why_not_ = absl::StrCat("round 0 has ", n, " items; a tail reference with k = ",
                                k, " needs at least ", 2 * (k + 1));
    return ref;
  }
  std::vector<float> reference(r_size * dim), held_out;
  for (size_t i = 0; i < r_size; ++i) {
    std::copy_n(rows.begin() + order[i] * dim, dim, reference.begin() + i * dim);
  }
  // H: the rest, at most |R| of them (in the seeded order).
  const size_t h_size = std::min(n - r_size, r_size);
  held_out.resize(h_size * dim);
  for (size_t i = 0; i < h_size; ++i) {
    std::copy_n(rows.begin() + order[r_size + i] * dim, dim,
                held_out.begin() + i * dim);
  }
  const std::vector<double> radius = KnnRadii(reference, dim, k);
  const double cut = Quantile(radius, options.quantile);
  for (size_t i = 0; i < r_size; ++i) {
    if (radius[i] < cut) continue;
    ref.tail_.insert(ref.tail_.end(), reference.begin() + i * dim,
                     reference.begin() + (i + 1) * dim);
    ++ref.tail_rows_;
  }
  ref.reference_size_ = r_size;
  ref.reference_ = std::move(reference);
  ref.why_not_.clear();
  ref.held_out_ = ref.MeasureOf(held_out);
  return ref;
}

std::optional<TailReference::Stats> TailReference::MeasureOf(
    std::span<const float> sample) const {
  const size_t m = sample.size() / dim_;
  if (m <= k_) return std::nullopt;
  // A sample row's ball: its k-NN radius in the sample, bounded by how far
  // round 0's k-th neighbour is from it.
  std::vector<double> radius = KnnRadii(sample, dim_, k_);
  const std::vector<double> bound = KnnDistancesTo(sample, reference_, dim_, k_);
  for (size_t j = 0; j < m; ++j) radius[j] = std::min(radius[j], bound[j]);
  std::vector<float> ip;
  InnerProducts(tail_, sample, dim_, &ip);
  std::vector<bool> holds_tail(m, false);
  size_t recalled = 0;
  for (size_t i = 0; i < tail_rows_; ++i) {
    const float* row = ip.data() + i * m;
    bool inside = false;
    for (size_t j = 0; j < m; ++j) {
      if (1.0 - row[j] <= radius[j]) {
        inside = true;
        holds_tail[j] = true;
      }
    }
    recalled += inside;
  }
  Stats s;
  s.recall = static_cast<double>(recalled) / static_cast<double>(tail_rows_);
  s.share = static_cast<double>(std::count(holds_tail.begin(), holds_tail.end(), true)) /
            static_cast<double>(m);
  return s;
}

std::optional<TailReference::Stats> TailReference::Measure(std::span<const float> rows,
                                                           Rng& rng) const {
  if (!ok() || dim_ == 0) return std::nullopt;
  const size_t n = rows.size() / dim_;
  if (n <= reference_size_) return MeasureOf(rows);
  std::vector<float> sample(reference_size_ * dim_);
  const std::vector<uint64_t> pick = rng.SampleWithoutReplacement(n, reference_size_);
  for (size_t i = 0; i < pick.size(); ++i) {
    std::copy_n(rows.begin() + pick[i] * dim_, dim_, sample.begin() + i * dim_);
  }
  return MeasureOf(sample);
}

}  // namespace feedloop::metrics
