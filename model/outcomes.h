// What the generator observes of a round: each of the round's items'
// impressions and engagements, from the round's interactions. The loop
// sends these live (Observe), and a resumed generator rebuilds them from
// the interactions the store holds, with this same function: it belongs to
// neither, so it is here, below both.

#ifndef FEEDLOOP_MODEL_OUTCOMES_H_
#define FEEDLOOP_MODEL_OUTCOMES_H_

#include <cstdint>
#include <span>
#include <vector>

#include "feedloop/v1/generator.pb.h"
#include "feedloop/v1/types.pb.h"

namespace feedloop::model {

// Outcomes of the items published in `round` (items of earlier rounds
// shown again are not the round's), ascending by item id.
std::vector<v1::ItemOutcome> OutcomesOf(uint32_t round,
                                        std::span<const v1::Interaction> interactions);

}  // namespace feedloop::model

#endif  // FEEDLOOP_MODEL_OUTCOMES_H_
