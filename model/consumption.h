// Consumption: what one user did with one slate. The simulated users
// (loop/users.h) produce it; the loop logs it as the round's interactions,
// which the ranker learns from, the generator observes and the round's
// metrics (metrics/round_recorder.h) read.

#ifndef FEEDLOOP_MODEL_CONSUMPTION_H_
#define FEEDLOOP_MODEL_CONSUMPTION_H_

#include <cstdint>
#include <span>
#include <vector>

#include "feedloop/v1/ranker.pb.h"
#include "feedloop/v1/types.pb.h"

namespace feedloop::model {

// The slate positions a user examined, in order, and whether each was
// engaged. positions.size() == engaged.size().
struct Consumption {
  std::vector<uint32_t> positions;
  std::vector<bool> engaged;
};

// The round's interactions as the loop logs them, and as the store gives
// them back: slate by slate (consumption[i] is what slates[i]'s user did),
// each examined position top-down.
std::vector<v1::Interaction> InteractionsOf(std::span<const v1::Slate> slates,
                                            std::span<const Consumption> consumption);

}  // namespace feedloop::model

#endif  // FEEDLOOP_MODEL_CONSUMPTION_H_
