// The content metrics of a set of items, in one place: the loop measures
// each round's new items with it (metrics/round_recorder.h), and
// DiversityService.Evaluate measures any set a caller sends.
//
//   ContentOptions o;
//   o.space = &space;     // content.topic_entropy
//   o.tail = &reference;  // content.tail_recall (round 0's reference)
//   std::vector<v1::MetricValue> values =
//       ContentMetrics(rows, dim, o, DeriveSeed(seed, round));

#ifndef FEEDLOOP_METRICS_CONTENT_H_
#define FEEDLOOP_METRICS_CONTENT_H_

#include <span>
#include <vector>

#include "feedloop/v1/types.pb.h"
#include "metrics/tail.h"
#include "model/topic_space.h"

namespace feedloop::metrics {

struct ContentOptions {
  // The run's topics; null leaves content.topic_entropy out. Default: null.
  const model::TopicSpace* space = nullptr;
  // Round 0's tail reference; null leaves content.tail_recall out.
  // Default: null.
  const TailReference* tail = nullptr;
  // The rows are round 0's own: report the reference's held-out coverage
  // rather than the in-sample one. Default: false.
  bool round_zero = false;
  // Sampled pairs of content.dispersion (and at most as many per creator
  // for content.creator_dispersion). Default: 2000.
  size_t pair_samples = 2000;
  // Per row, the id of the creator who made it, or -1 for an item with no
  // creator (the platform's); empty leaves content.creator_dispersion out.
  // Default: empty.
  std::span<const int64_t> creators;
};

// content.dispersion and content.vendi always; content.topic_entropy with
// a space; content.tail_recall with a tail reference;
// content.creator_dispersion with creator ids. Sampled parts draw
// from streams of `seed`. Undefined values (too few rows, one topic, a
// round 0 too small for a reference) come back absent with the reason.
std::vector<v1::MetricValue> ContentMetrics(std::span<const float> rows, uint32_t dim,
                                            const ContentOptions& options,
                                            uint64_t seed);

}  // namespace feedloop::metrics

#endif  // FEEDLOOP_METRICS_CONTENT_H_
