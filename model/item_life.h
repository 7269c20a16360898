// The one rule of an item's life: an item published in round r is live
// (indexed, rankable, measured) in rounds r .. r + ttl - 1, where ttl is
// ranker.item_ttl_rounds. The ranker expires by it and the metrics count
// lifetimes by it; both call these.

#ifndef FEEDLOOP_MODEL_ITEM_LIFE_H_
#define FEEDLOOP_MODEL_ITEM_LIFE_H_

#include <cstdint>

namespace feedloop::model {

// The last round in which an item of `item_round` is live.
constexpr uint64_t LastLiveRound(uint32_t item_round, uint32_t ttl) {
  return uint64_t{item_round} + ttl - 1;
}

// Whether an item of `item_round` is live in `round`.
constexpr bool LiveIn(uint32_t item_round, uint32_t round, uint32_t ttl) {
  return round >= item_round && round <= LastLiveRound(item_round, ttl);
}

}  // namespace feedloop::model

#endif  // FEEDLOOP_MODEL_ITEM_LIFE_H_
