// gMock matchers and macros for absl::Status, which this Abseil version
// lacks. Test-only.
//
//   EXPECT_OK(store->Ingest(run, items));
//   EXPECT_THAT(store->Ingest(run, {}),
//               StatusIs(absl::StatusCode::kInvalidArgument,
//                        HasSubstr("items")));
//   ASSERT_OK_AND_ASSIGN(auto store, ItemStore::Open(options));

#ifndef FEEDLOOP_TESTING_STATUS_MATCHERS_H_
#define FEEDLOOP_TESTING_STATUS_MATCHERS_H_

#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace feedloop::testing {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

// Matches a Status or StatusOr whose code is `code` and whose message
// matches `message_matcher`.
MATCHER_P2(StatusIs, code, message_matcher,
           "has code " + std::string(absl::StatusCodeToString(code))) {
  const absl::Status& s = ::feedloop::testing::GetStatus(arg);
  *result_listener << "which is " << s;
  return s.code() == code &&
         ::testing::Matches(message_matcher)(std::string(s.message()));
}

// The code alone, whatever the message.
MATCHER_P(StatusIs, code, "has code " + std::string(absl::StatusCodeToString(code))) {
  const absl::Status& s = ::feedloop::testing::GetStatus(arg);
  *result_listener << "which is " << s;
  return s.code() == code;
}

MATCHER(IsOk, "is OK") {
  const absl::Status& s = ::feedloop::testing::GetStatus(arg);
  *result_listener << "which is " << s;
  return s.ok();
}

}  // namespace feedloop::testing

#define EXPECT_OK(expr) EXPECT_THAT((expr), ::feedloop::testing::IsOk())
#define ASSERT_OK(expr) ASSERT_THAT((expr), ::feedloop::testing::IsOk())

#define FEEDLOOP_TESTING_CONCAT_INNER_(a, b) a##b
#define FEEDLOOP_TESTING_CONCAT_(a, b) FEEDLOOP_TESTING_CONCAT_INNER_(a, b)
#define ASSERT_OK_AND_ASSIGN(lhs, rexpr)                                     \
  ASSERT_OK_AND_ASSIGN_IMPL_(                                                \
      FEEDLOOP_TESTING_CONCAT_(feedloop_statusor_, __LINE__), lhs, rexpr)
#define ASSERT_OK_AND_ASSIGN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                               \
  ASSERT_OK(statusor.status());                          \
  lhs = *std::move(statusor)

#endif  // FEEDLOOP_TESTING_STATUS_MATCHERS_H_
