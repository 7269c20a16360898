// Consumption: what one user did with one slate. The simulated users
// (loop/users.h) produce it; the round's metrics (metrics/round_metrics.h)
// read it.

#ifndef FEEDLOOP_MODEL_CONSUMPTION_H_
#define FEEDLOOP_MODEL_CONSUMPTION_H_

#include <cstdint>
#include <vector>

namespace feedloop::model {

// The slate positions a user examined, in order, and whether each was
// engaged. positions.size() == engaged.size().
struct Consumption {
  std::vector<uint32_t> positions;
  std::vector<bool> engaged;
};

}  // namespace feedloop::model

#endif  // FEEDLOOP_MODEL_CONSUMPTION_H_
