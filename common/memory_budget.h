// The memory a process lets its runs reserve. A service admits a run only
// when the run's estimated peak (config/cost.h) fits beside what the runs
// it holds already reserved, so a config that would exhaust the machine is
// refused with a status naming its cost instead of ending in bad_alloc.
//
//   MemoryBudget budget(MemoryBudget::DefaultLimit());
//   FEEDLOOP_ASSIGN_OR_RETURN(MemoryBudget::Reservation r,
//                             budget.Reserve(estimate, "run 'r1'"));
//   ...  // r releases its bytes when it goes
//
// One budget may serve several services (the embedded stack's four share
// one, as they share a process). Thread-safe.

#ifndef FEEDLOOP_COMMON_MEMORY_BUDGET_H_
#define FEEDLOOP_COMMON_MEMORY_BUDGET_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace feedloop {

class MemoryBudget {
 public:
  // Bytes held from Reserve until destroyed (or moved from).
  class Reservation {
   public:
    Reservation() = default;
    Reservation(Reservation&& other) noexcept { *this = std::move(other); }
    Reservation& operator=(Reservation&& other) noexcept;
    ~Reservation() { Release(); }
    uint64_t bytes() const { return bytes_; }
    void Release();

   private:
    friend class MemoryBudget;
    Reservation(MemoryBudget* budget, uint64_t bytes) : budget_(budget), bytes_(bytes) {}
    MemoryBudget* budget_ = nullptr;
    uint64_t bytes_ = 0;
  };

  // `limit_bytes` > 0.
  explicit MemoryBudget(uint64_t limit_bytes) : limit_(limit_bytes) {}
  MemoryBudget(const MemoryBudget&) = delete;
  MemoryBudget& operator=(const MemoryBudget&) = delete;

  // Half of the memory this process may use: the machine's physical
  // memory, or the cgroup's limit (a container's) when that is lower.
  static uint64_t DefaultLimit();
  // The memory this process may use (as above, whole).
  static uint64_t AvailableMemory();

  // Reserves `bytes`. RESOURCE_EXHAUSTED when they do not fit beside what
  // is reserved now (they may later); callers compare with limit() first
  // to tell "too big for this process" from "busy".
  absl::StatusOr<Reservation> Reserve(uint64_t bytes);

  uint64_t limit() const { return limit_; }
  uint64_t reserved() const;

 private:
  const uint64_t limit_;
  mutable absl::Mutex mu_;
  uint64_t reserved_ ABSL_GUARDED_BY(mu_) = 0;
};

// "1.5 GiB", "12 MiB", "800 B": binary units, three significant digits.
std::string FormatBytes(uint64_t bytes);
// "12GiB", "512 MiB", "2G", "1073741824": a size in bytes (K, M, G, T
// and their KiB forms are binary). INVALID_ARGUMENT naming the text.
absl::StatusOr<uint64_t> ParseBytes(absl::string_view text);

}  // namespace feedloop

#endif  // FEEDLOOP_COMMON_MEMORY_BUDGET_H_
