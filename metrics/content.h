// The content metrics of a set of items (DESIGN.md section 4), in one place:
// the loop measures each round's new items with it, and
// DiversityService.Evaluate measures any set a caller sends.
//
//   Rng rng(seed);
//   std::vector<v1::MetricValue> values =
//       ContentMetrics(rows, dim, &space, tail_threshold, 2000, rng);

#ifndef FEEDLOOP_METRICS_CONTENT_H_
#define FEEDLOOP_METRICS_CONTENT_H_

#include <span>
#include <vector>

#include "common/random.h"
#include "feedloop/v1/types.pb.h"
#include "model/topic_space.h"

namespace feedloop::metrics {

// Each row's cosine distance to its nearest topic centre.
std::vector<double> TopicDistances(std::span<const float> rows, uint32_t dim,
                                   const model::TopicSpace& space);

// content.dispersion (over at most `pair_samples` pairs) and content.vendi
// always; with a `space`, content.topic_entropy, and content.tail_mass when
// `tail_threshold` >= 0 (the share of rows farther from their topic).
std::vector<v1::MetricValue> ContentMetrics(std::span<const float> rows,
                                            uint32_t dim,
                                            const model::TopicSpace* space,
                                            double tail_threshold,
                                            size_t pair_samples, Rng& rng);

}  // namespace feedloop::metrics

#endif  // FEEDLOOP_METRICS_CONTENT_H_
