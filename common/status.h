// Status helpers used everywhere: context on a message, and the
// return-on-error macros. The conversion to and from grpc::Status is in
// rpc/grpc_status.h (this library does not depend on gRPC).

#ifndef FEEDLOOP_COMMON_STATUS_H_
#define FEEDLOOP_COMMON_STATUS_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace feedloop {

// Prefixes a status's message with context ("ranker at 1.2.3.4:5: ...").
absl::Status Annotate(const absl::Status& status, absl::string_view context);

// `text` in single quotes for a message, cut to its first `max_chars`
// characters ("'abc...' (20000 characters)") so that an error never
// copies unbounded input back to the caller.
std::string Quote(absl::string_view text, size_t max_chars = 64);

}  // namespace feedloop

// Evaluates `expr` (an absl::Status); returns it from the enclosing function
// when it is not OK.
#define FEEDLOOP_RETURN_IF_ERROR(expr)                          \
  do {                                                          \
    if (::absl::Status feedloop_status_ = (expr);               \
        !feedloop_status_.ok()) {                               \
      return feedloop_status_;                                  \
    }                                                           \
  } while (false)

#define FEEDLOOP_STATUS_CONCAT_INNER_(a, b) a##b
#define FEEDLOOP_STATUS_CONCAT_(a, b) FEEDLOOP_STATUS_CONCAT_INNER_(a, b)

// Evaluates `rexpr` (an absl::StatusOr<T>); on error returns its status,
// otherwise moves the value into `lhs` (a declaration or an lvalue).
#define FEEDLOOP_ASSIGN_OR_RETURN(lhs, rexpr)                           \
  FEEDLOOP_ASSIGN_OR_RETURN_IMPL_(                                      \
      FEEDLOOP_STATUS_CONCAT_(feedloop_statusor_, __LINE__), lhs, rexpr)

#define FEEDLOOP_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                    \
  if (!statusor.ok()) return std::move(statusor).status();    \
  lhs = *std::move(statusor)

#endif  // FEEDLOOP_COMMON_STATUS_H_
