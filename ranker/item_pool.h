// ItemPool: one run's live items, the first of the ranker's three jobs (the
// others: the user model, ranker/user_model.h, and the slate policy,
// ranker/slate_policy.h). It owns the FAISS index and each live item's
// round and decayed popularity, and applies the one liveness rule of
// model/item_life.h.
//
//   FEEDLOOP_ASSIGN_OR_RETURN(auto pool, ItemPool::Create(config, options));
//   FEEDLOOP_RETURN_IF_ERROR(pool->Advance(round, items));
//   double s = pool->NonRelevanceScore(id, round);
//
// Not thread-safe: the Ranker serializes writes and shares reads.

#ifndef FEEDLOOP_RANKER_ITEM_POOL_H_
#define FEEDLOOP_RANKER_ITEM_POOL_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "feedloop/v1/config.pb.h"
#include "feedloop/v1/types.pb.h"
#include "ranker/vector_index.h"

namespace feedloop::ranker {

class ItemPool {
 public:
  // INVALID_ARGUMENT when the index options are bad.
  static absl::StatusOr<std::unique_ptr<ItemPool>> Create(
      const v1::ExperimentConfig& config, int search_threads);

  ItemPool(const ItemPool&) = delete;
  ItemPool& operator=(const ItemPool&) = delete;

  // Moves to `round` (0 first, then one at a time): expires the items whose
  // life ended, decays popularity, indexes `items`. FAILED_PRECONDITION for
  // a round out of order; INVALID_ARGUMENT naming a bad item (wrong
  // dimension, not finite, duplicate id, id outside [1, 2^63), item round
  // != round). Nothing changes then. `expired` (may be null) gets the ids
  // that left.
  absl::Status Advance(uint32_t round, std::span<const v1::Item> items,
                       std::vector<uint64_t>* expired);
  // The same for the round's items held compactly (NewItems), which is
  // how the ranker reads a round from the store.
  struct NewItems;
  absl::Status Advance(uint32_t round, NewItems items, std::vector<uint64_t>* expired);

  // The round the pool is at; nullopt before the first Advance.
  std::optional<uint32_t> round() const { return round_; }
  // Live ids, ascending (= publication order): seeded draws index into it.
  const std::vector<uint64_t>& live_ids() const { return live_ids_; }
  bool Live(uint64_t id) const { return items_.contains(id); }
  // The stored vector of a live item, or nullptr.
  const float* Vector(uint64_t id) const { return index_->Vector(id); }
  // The publication round of a live item.
  uint32_t ItemRound(uint64_t id) const { return items_.at(id).round; }
  // Whether a live item is still live in `round`.
  bool LiveIn(uint64_t id, uint32_t round) const;

  // An engagement of a live item (popularity + 1). Call Refresh after a
  // round's feedback.
  void AddEngagement(uint64_t id) { items_.at(id).popularity += 1.0; }
  // Recomputes the popularity scale and the popular order.
  void Refresh();

  // w_pop * scaled popularity + w_fresh * freshness of a live item, its age
  // counted at `at_round`.
  double NonRelevanceScore(uint64_t id, uint32_t at_round) const;
  // The same for an item not yet published, as it would stand in its own
  // round: no popularity, freshness 1.
  double NewItemScore() const;
  // Live ids by NonRelevanceScore at the current round, best first, ties
  // by id: the candidates of users without a query vector.
  const std::vector<uint64_t>& popular() const { return popular_; }
  // The mean of the live items' vectors (summed in id order); all zeros
  // when none are live.
  std::vector<float> MeanVector() const;

  absl::Status Search(std::span<const float> queries, size_t k,
                      std::vector<Neighbors>* out) const {
    return index_->Search(queries, k, out);
  }

  uint64_t last_added() const { return last_added_; }
  uint64_t last_expired() const { return last_expired_; }
  uint64_t rebuilds() const { return index_->rebuilds(); }

 private:
  struct Meta {
    uint32_t round;
    double popularity;  // decayed engagement count
  };

  ItemPool(const v1::ExperimentConfig& config, std::unique_ptr<VectorIndex> index);
  double PopularityScaled(double popularity) const;
  double Freshness(uint32_t item_round, uint32_t at_round) const;

  // Constant after construction.
  const v1::RankerConfig rc_;
  const uint32_t dim_;
  std::unique_ptr<VectorIndex> index_;

  std::optional<uint32_t> round_;
  absl::flat_hash_map<uint64_t, Meta> items_;
  std::vector<uint64_t> live_ids_;
  std::vector<uint64_t> popular_;
  double log1p_max_popularity_ = 0;
  uint64_t last_added_ = 0;
  uint64_t last_expired_ = 0;
};

// A round's new items as the index takes them: ids, and one row of
// `dim` floats per id, without a per-item object.
struct ItemPool::NewItems {
  std::vector<uint64_t> ids;
  std::vector<float> rows;
  // Appends `items` (whose first is items[first] of the round), checking
  // that each is of `round` and has `dim` values; INVALID_ARGUMENT naming
  // the item otherwise, and nothing appended then.
  absl::Status Append(std::span<const v1::Item> items, uint32_t round, uint32_t dim,
                      size_t first = 0);
};

// The VectorIndex options a run's config asks for.
VectorIndex::Options IndexOptionsFor(const v1::ExperimentConfig& config,
                                     int search_threads);

}  // namespace feedloop::ranker

#endif  // FEEDLOOP_RANKER_ITEM_POOL_H_
