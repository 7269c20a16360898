#include "common/status.h"

#include "gtest/gtest.h"

namespace feedloop {
namespace {

TEST(Status, AnnotatePrefixesAndKeepsCode) {
  absl::Status s = Annotate(absl::NotFoundError("run 'x'"), "store");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(s.message(), "store: run 'x'");
  EXPECT_TRUE(Annotate(absl::OkStatus(), "x").ok());
}

TEST(Status, QuoteCutsLongInput) {
  EXPECT_EQ(Quote("abc"), "'abc'");
  const std::string quoted = Quote(std::string(1000, 'x'), 8);
  EXPECT_EQ(quoted, "'xxxxxxxx...' (1000 characters)");
}

absl::StatusOr<int> Half(int x) {
  if (x % 2) return absl::InvalidArgumentError("odd");
  return x / 2;
}

absl::Status UseMacros(int x, int* out) {
  FEEDLOOP_ASSIGN_OR_RETURN(int h, Half(x));
  FEEDLOOP_RETURN_IF_ERROR(h > 10 ? absl::OutOfRangeError("big")
                                  : absl::OkStatus());
  *out = h;
  return absl::OkStatus();
}

TEST(Status, MacrosPropagate) {
  int out = 0;
  EXPECT_TRUE(UseMacros(4, &out).ok());
  EXPECT_EQ(out, 2);
  EXPECT_EQ(UseMacros(3, &out).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(UseMacros(40, &out).code(), absl::StatusCode::kOutOfRange);
}

}  // namespace
}  // namespace feedloop
