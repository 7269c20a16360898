// RoundRecorder: computes every per-round metric of the catalog
// (metrics/catalog.h, docs/metrics.md) from what the loop saw in a round,
// and keeps the state that spans rounds: the live items (embeddings,
// impressions, first and last round shown), round 0's tail reference, and
// the window of what each user engaged.
//
//   RoundRecorder recorder(config);
//   recorder.AddItems(round, chunk);   // once per chunk of the round's items
//   recorder.EndItems(round);
//   ... rank, consume ...
//   recorder.Record(round, interactions);
//   std::vector<v1::MetricValue> values = recorder.Measure(observed);
//   recorder.RetireExpired(round);
//
// AddItems, EndItems, Record and RetireExpired are the state that spans rounds, and
// take only what the store keeps (a round's items and interactions), so a
// resumed loop rebuilds the recorder by replaying them; Measure changes
// nothing.
//
// A metric with nothing to measure in a round (no item expires yet, nobody
// engaged) is reported absent with its reason, never as a number that
// means something else.
//
// Deterministic: iterates in id and user order, samples with Rngs seeded
// by (run seed, stream, round). Not thread-safe.

#ifndef FEEDLOOP_METRICS_ROUND_RECORDER_H_
#define FEEDLOOP_METRICS_ROUND_RECORDER_H_

#include <cstdint>
#include <deque>
#include <span>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "feedloop/v1/config.pb.h"
#include "feedloop/v1/ranker.pb.h"
#include "feedloop/v1/types.pb.h"
#include "metrics/tail.h"
#include "model/consumption.h"
#include "model/topic_space.h"

namespace feedloop::metrics {

// The tail reference a run's config asks for: the recorder builds it from
// round 0, and DiversityService.Evaluate rebuilds the same one from the
// store.
TailReference::Options TailOptionsFor(const v1::ExperimentConfig& config);

class RoundRecorder {
 public:
  explicit RoundRecorder(const v1::ExperimentConfig& config);

  RoundRecorder(const RoundRecorder&) = delete;
  RoundRecorder& operator=(const RoundRecorder&) = delete;

  // Part of the round's new items join the live set (the first call of a
  // round starts its new items). Their embeddings are kept in one block
  // of rows per round, sized for the round's items up front.
  void AddItems(uint32_t round, std::span<const v1::Item> items);
  // The round's items are all in: round 0's make the tail reference.
  void EndItems(uint32_t round);
  // The embedding of a live item, or an empty span.
  std::span<const float> Embedding(uint64_t id) const;

  // What the loop saw in one round.
  struct Observed {
    uint32_t round = 0;
    // Every user's slate (every slate item is live), and the round's
    // interactions as Record was given them.
    std::span<const v1::Slate> slates;
    std::span<const v1::Interaction> interactions;
    // True interests p_u as the users read their slates: users x dim,
    // row u for user u.
    std::span<const float> interests;
    // Mean distance of creators' centres from their homes (the generator's
    // state), and of users' interests from their initial ones.
    double creator_drift = 0;
    double interest_drift = 0;
  };

  // Records what users examined and engaged in the round (impressions,
  // lifetimes, the consumption window). Every item must be live.
  void Record(uint32_t round, std::span<const v1::Interaction> interactions);
  // The metrics of the round just recorded, in catalog order.
  std::vector<v1::MetricValue> Measure(const Observed& observed) const;
  // Forgets the items whose last live round is `round`. Call after
  // Measure (and after anything else that reads their embeddings).
  void RetireExpired(uint32_t round);

  size_t live_items() const { return live_.size(); }

 private:
  // Per live item, in its round's block at its row (no id or round: the
  // block and where_ give those), laid out without padding holes: at
  // millions of items this and where_ are the recorder's cost beyond the
  // rows themselves.
  struct ItemState {
    uint64_t impressions = 0;
    // Impressions by age (round shown - round published), one entry per
    // round it was shown in, ages ascending.
    std::vector<std::pair<uint32_t, uint64_t>> by_age;
    uint32_t creator = 0;
    int32_t first_seen = -1;
    int32_t last_seen = -1;
    bool platform = false;
  };
  // One round's live items: row i of `rows` and states[i] are one item's,
  // in the order added (the round's new items are the block whole).
  struct Block {
    std::vector<float> rows;
    std::vector<ItemState> states;
  };
  struct Where {
    uint32_t round;
    uint32_t row;
  };
  // The round's new items (its block's size).
  double NewItems(uint32_t round) const;
  const ItemState& StateOf(Where w) const { return blocks_.at(w.round).states[w.row]; }
  ItemState& StateOf(Where w) { return blocks_.at(w.round).states[w.row]; }
  // An item engaged within the consumption window (it may have expired).
  struct WindowItem {
    std::vector<float> embedding;
    uint32_t last_engaged;
  };

  // The round's interactions, counted once for every measure that needs them.
  struct Tally {
    absl::flat_hash_map<uint64_t, uint64_t> shown;  // impressions per item
    std::vector<double> creator_impressions;         // per creator
    double impressions = 0, engagements = 0, platform_impressions = 0;
    // Per user: the affinity summed over what it engaged, and how many.
    absl::flat_hash_map<uint32_t, std::pair<double, size_t>> by_user;
  };
  Tally TallyOf(const Observed& in) const;

  void MeasureContent(uint32_t round, std::vector<v1::MetricValue>* out) const;
  void MeasureExposure(const Tally& tally, std::vector<v1::MetricValue>* out) const;
  void MeasureConsumption(const Observed& in, const Tally& tally,
                          std::vector<v1::MetricValue>* out) const;
  void MeasureWindow(uint32_t round, size_t users,
                     std::vector<v1::MetricValue>* out) const;
  void MeasureLifecycle(uint32_t round, double engagements,
                        std::vector<v1::MetricValue>* out) const;

  // Constant after construction.
  const v1::ExperimentConfig config_;
  const uint32_t dim_;
  const uint32_t ttl_;
  const model::TopicSpace space_;

  // Every live item's block and row.
  absl::flat_hash_map<uint64_t, Where> where_;
  // Per round whose items are live.
  absl::flat_hash_map<uint32_t, Block> blocks_;
  std::vector<uint64_t> live_;  // ascending ids
  TailReference tail_;
  // Engaged item ids per user (sorted, distinct) for the last
  // jaccard_window rounds, oldest first.
  std::deque<std::vector<std::vector<uint64_t>>> window_;
  absl::flat_hash_map<uint64_t, WindowItem> window_items_;
};

}  // namespace feedloop::metrics

#endif  // FEEDLOOP_METRICS_ROUND_RECORDER_H_
