// Whether the caller of a long computation still wants its result. Work
// that can run for long (scoring, ranking, generating, measuring, creating
// a sweep's runs) checks it between chunks and stops with the status it
// gives, so a caller's deadline or cancellation reaches the work itself and
// not only the start of it.
//
//   for (size_t first = 0; first < n; first += kChunk) {
//     FEEDLOOP_RETURN_IF_ERROR(cancel.Check());
//     ...
//   }
//   ctx.set_deadline(absl::ToChronoTime(cancel.DeadlineWithin(absl::Seconds(60))));
//
// A default-constructed Cancellation never fires (in-process callers,
// tests). rpc/reactors.h makes one from a server call. Thread-safe when the
// `cancelled` function is.

#ifndef FEEDLOOP_COMMON_CANCELLATION_H_
#define FEEDLOOP_COMMON_CANCELLATION_H_

#include <algorithm>
#include <functional>
#include <utility>

#include "absl/status/status.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace feedloop {

class Cancellation {
 public:
  // Never cancelled, no deadline.
  Cancellation() = default;
  // Fires once `deadline` passes or `cancelled()` returns true.
  Cancellation(absl::Time deadline, std::function<bool()> cancelled)
      : deadline_(deadline), cancelled_(std::move(cancelled)) {}

  // OK while the caller waits; CANCELLED or DEADLINE_EXCEEDED once not.
  absl::Status Check() const {
    if (cancelled_ && cancelled_()) return absl::CancelledError("the call was cancelled");
    if (deadline_ != absl::InfiniteFuture() && absl::Now() >= deadline_) {
      return absl::DeadlineExceededError("the call's deadline passed");
    }
    return absl::OkStatus();
  }
  bool fired() const { return !Check().ok(); }

  // The caller's deadline (InfiniteFuture without one).
  absl::Time deadline() const { return deadline_; }
  // The deadline for a call made on the caller's behalf: the caller's, or
  // `at_most` from now when that is sooner.
  absl::Time DeadlineWithin(absl::Duration at_most) const {
    return std::min(deadline_, absl::Now() + at_most);
  }

 private:
  absl::Time deadline_ = absl::InfiniteFuture();
  std::function<bool()> cancelled_;
};

}  // namespace feedloop

#endif  // FEEDLOOP_COMMON_CANCELLATION_H_
