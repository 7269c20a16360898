// Time, passed in: what reads the time or waits takes a Clock*, so tests
// control it. Clock::Real() is the system's; ManualClock moves only when
// told (and when something sleeps on it, by the time slept).
//
//   options.clock = &manual;              // a test
//   manual.Advance(absl::Seconds(31));    // a lease expires, no waiting
//
// Both are thread-safe.

#ifndef FEEDLOOP_COMMON_CLOCK_H_
#define FEEDLOOP_COMMON_CLOCK_H_

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace feedloop {

class Clock {
 public:
  virtual ~Clock() = default;
  virtual absl::Time Now() const = 0;
  virtual void SleepFor(absl::Duration d) = 0;

  // The system clock; stateless, shared by the process.
  static Clock* Real();
};

class ManualClock final : public Clock {
 public:
  explicit ManualClock(absl::Time start = absl::FromUnixSeconds(1'700'000'000))
      : now_(start) {}
  absl::Time Now() const override {
    absl::MutexLock lock(&mu_);
    return now_;
  }
  // Returns at once, the clock moved on by `d`.
  void SleepFor(absl::Duration d) override { Advance(d); }
  void Advance(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    now_ += d;
  }

 private:
  mutable absl::Mutex mu_;
  absl::Time now_ ABSL_GUARDED_BY(mu_);
};

}  // namespace feedloop

#endif  // FEEDLOOP_COMMON_CLOCK_H_
