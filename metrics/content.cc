#include "metrics/content.h"

#include "common/vectors.h"
#include "metrics/diversity.h"

namespace feedloop::metrics {
namespace {

void Add(std::vector<v1::MetricValue>* out, const char* name, double value) {
  v1::MetricValue& v = out->emplace_back();
  v.set_name(name);
  v.set_value(value);
}

}  // namespace

std::vector<double> TopicDistances(std::span<const float> rows, uint32_t dim,
                                   const model::TopicSpace& space) {
  std::vector<double> out;
  const size_t n = dim == 0 ? 0 : rows.size() / dim;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const auto e = rows.subspan(i * dim, dim);
    out.push_back(1 - Dot(e, space.Centre(space.Nearest(e))));
  }
  return out;
}

std::vector<v1::MetricValue> ContentMetrics(std::span<const float> rows,
                                            uint32_t dim,
                                            const model::TopicSpace* space,
                                            double tail_threshold,
                                            size_t pair_samples, Rng& rng) {
  std::vector<v1::MetricValue> out;
  Add(&out, "content.dispersion", MeanPairwiseDistance(rows, dim, pair_samples, rng));
  Add(&out, "content.vendi", VendiScore(rows, dim));
  if (space == nullptr) return out;
  const size_t n = dim == 0 ? 0 : rows.size() / dim;
  std::vector<double> counts(space->topics(), 0.0);
  for (size_t i = 0; i < n; ++i) counts[space->Nearest(rows.subspan(i * dim, dim))] += 1;
  Add(&out, "content.topic_entropy", NormalizedEntropy(counts, space->topics()));
  if (tail_threshold >= 0) {
    size_t tail = 0;
    for (double d : TopicDistances(rows, dim, *space)) tail += d > tail_threshold;
    Add(&out, "content.tail_mass", n ? static_cast<double>(tail) / n : 0);
  }
  return out;
}

}  // namespace feedloop::metrics
