// MetricsTracker: computes every per-round metric of DESIGN.md section 4
// from what the loop saw in the round, and keeps the state that spans
// rounds: the live items (embeddings, impressions, first and last seen),
// round 0's tail threshold, and the consumption window for Jaccard.
//
//   MetricsTracker tracker(config, space);
//   tracker.AddItems(round, new_items);
//   ... rank, consume ...
//   std::vector<v1::MetricValue> values = tracker.FinishRound(input);
//   tracker.RetireExpired(round);
//
// Deterministic: iterates in id and user order, samples with seeded Rngs.
// Not thread-safe.

#ifndef FEEDLOOP_LOOP_METRICS_TRACKER_H_
#define FEEDLOOP_LOOP_METRICS_TRACKER_H_

#include <cstdint>
#include <deque>
#include <span>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "feedloop/v1/config.pb.h"
#include "feedloop/v1/ranker.pb.h"
#include "feedloop/v1/types.pb.h"
#include "loop/users.h"
#include "model/topic_space.h"

namespace feedloop::loop {

class MetricsTracker {
 public:
  MetricsTracker(const v1::ExperimentConfig& config,
                 const model::TopicSpace& space);

  // The round's new items join the live set.
  void AddItems(uint32_t round, const std::vector<v1::Item>& items);
  // The embedding of a live item, or an empty span.
  std::span<const float> Embedding(uint64_t id) const;

  struct RoundInput {
    uint32_t round = 0;
    // In user order: slates[u] is user u's slate, consumption[u] what they
    // did with it.
    const std::vector<v1::Slate>* slates = nullptr;
    const std::vector<Consumption>* consumption = nullptr;
    const Users* users = nullptr;
    // Mean distance of creators' centres from their homes (the generator's).
    double creator_drift = 0;
  };

  // Computes the round's metrics. Metrics with nothing to measure this
  // round (lifecycle metrics before any item expires) are left out rather
  // than invented.
  std::vector<v1::MetricValue> FinishRound(const RoundInput& input);
  // Forgets the items whose last live round was `round`. Call after
  // FinishRound (and after anything else that reads their embeddings).
  void RetireExpired(uint32_t round);

  size_t live_items() const { return live_.size(); }

 private:
  struct ItemState {
    uint32_t round;
    uint32_t creator;
    bool platform;
    std::vector<float> embedding;
    uint64_t impressions = 0;
    int64_t first_seen = -1;
    int64_t last_seen = -1;
  };

  const v1::ExperimentConfig config_;
  const model::TopicSpace& space_;
  absl::flat_hash_map<uint64_t, ItemState> items_;
  std::vector<uint64_t> live_;  // ascending ids
  std::vector<uint64_t> new_ids_;
  double tail_threshold_ = -1;  // set from round 0
  // Engaged item ids per user for the last jaccard_window rounds.
  std::deque<std::vector<std::vector<uint64_t>>> window_;
};

}  // namespace feedloop::loop

#endif  // FEEDLOOP_LOOP_METRICS_TRACKER_H_
