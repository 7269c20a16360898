// What one run of a config costs a service in memory, estimated from the
// config alone, and the admission check that compares it with the
// service's budget before anything is written or allocated.
//
//   const MemoryEstimate e = EstimateRunMemory(config, Service::kRanker);
//   FEEDLOOP_ASSIGN_OR_RETURN(MemoryBudget::Reservation r,
//                             AdmitRun(config, Service::kRanker, budget));
//
// The estimate is the run's peak working set in that service: the vectors
// and tables it holds (users x dim, live items x dim, the round in flight,
// the seen sets), each a named term, so a refusal says which fields make
// the cost. It leaves out each process's fixed overhead (code, gRPC,
// RocksDB's caches, the request queue), which the budget's limit must
// leave room for. tests/memory_estimate_test.cc holds it within a factor
// of 2 of measured peaks on configs of different shapes.

#ifndef FEEDLOOP_CONFIG_COST_H_
#define FEEDLOOP_CONFIG_COST_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/memory_budget.h"
#include "feedloop/v1/config.pb.h"

namespace feedloop::config {

enum class Service { kLoop, kStore, kRanker, kGenerator };
// "loop", "store", "ranker", "generator".
const char* ServiceName(Service service);

struct MemoryTerm {
  std::string what;  // the fields that make it: "users.count x space.dim"
  uint64_t bytes = 0;
};

struct MemoryEstimate {
  uint64_t bytes = 0;              // the sum of the terms
  std::vector<MemoryTerm> terms;   // largest first
  // "150 GiB for users.count x space.dim, 3.0 GiB for live items x ..."
  // (the largest `max_terms` terms).
  std::string Describe(size_t max_terms = 3) const;
};

// The peak memory one run of `config` (validated) needs in `service`.
MemoryEstimate EstimateRunMemory(const v1::ExperimentConfig& config, Service service);

// The items of the round `round` generates, and the most items live at
// once in the run (within ranker.item_ttl_rounds of each other).
uint64_t ItemsInRound(const v1::ExperimentConfig& config, uint32_t round);
uint64_t PeakLiveItems(const v1::ExperimentConfig& config);

// What a run's record costs the loop while its experiment plays.
uint64_t RunRecordBytes(const v1::ExperimentConfig& config);

// The memory of an experiment of `configs` (its runs) played `parallel`
// at a time in `services`: for each service its largest run's terms times
// the runs at once, plus, in the loop, every run's record. Terms name
// their service when there are several.
MemoryEstimate ExperimentMemory(const std::vector<const v1::ExperimentConfig*>& configs,
                                int parallel, const std::vector<Service>& services);

// Reserves `bytes` (an estimate for `what`, described by `estimate`) in
// `budget`. INVALID_ARGUMENT when the estimate exceeds the whole budget
// (this process can never hold it), RESOURCE_EXHAUSTED when it does not fit
// beside what runs hold now; both name the estimate's largest terms and
// the budget:
//   "ranker: the run needs an estimated 153 GiB (150 GiB for users.count x
//    space.dim, ...); this ranker's memory budget is 12 GiB (--memory_budget)"
absl::StatusOr<MemoryBudget::Reservation> Admit(Service service,
                                                const MemoryEstimate& estimate,
                                                absl::string_view what,
                                                MemoryBudget& budget);
// Admit's first check alone: INVALID_ARGUMENT when the estimate exceeds
// the whole budget; nothing is reserved.
absl::Status CheckFits(Service service, const MemoryEstimate& estimate,
                       absl::string_view what, const MemoryBudget& budget);
// Admit of run `run_id` of `config` in `service`, the reservation shared
// so that the registry entry of the open run can hold it; null when
// `budget` is (no bound).
absl::StatusOr<std::shared_ptr<MemoryBudget::Reservation>> HoldRun(
    const v1::ExperimentConfig& config, Service service, absl::string_view run_id,
    MemoryBudget* budget);
// Admit of one run of `config`.
absl::StatusOr<MemoryBudget::Reservation> AdmitRun(const v1::ExperimentConfig& config,
                                                   Service service, MemoryBudget& budget);

}  // namespace feedloop::config

#endif  // FEEDLOOP_CONFIG_COST_H_
