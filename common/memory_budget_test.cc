#include "common/memory_budget.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"

namespace feedloop {
namespace {

using ::feedloop::testing::StatusIs;
using ::testing::HasSubstr;

TEST(MemoryBudget, ReservationsHoldTheirBytesUntilTheyGo) {
  MemoryBudget budget(1000);
  ASSERT_OK_AND_ASSIGN(MemoryBudget::Reservation a, budget.Reserve(600));
  EXPECT_EQ(budget.reserved(), 600u);
  EXPECT_THAT(budget.Reserve(500).status(),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("reserved")));
  {
    ASSERT_OK_AND_ASSIGN(MemoryBudget::Reservation b, budget.Reserve(400));
    EXPECT_EQ(budget.reserved(), 1000u);
    MemoryBudget::Reservation moved = std::move(b);  // moving does not release
    EXPECT_EQ(budget.reserved(), 1000u);
  }
  EXPECT_EQ(budget.reserved(), 600u);
  a.Release();
  EXPECT_EQ(budget.reserved(), 0u);
  EXPECT_OK(budget.Reserve(1000).status());
}

TEST(MemoryBudget, DefaultIsHalfOfWhatTheProcessMayUse) {
  EXPECT_GT(MemoryBudget::AvailableMemory(), uint64_t{64} << 20);
  EXPECT_EQ(MemoryBudget::DefaultLimit(), MemoryBudget::AvailableMemory() / 2);
}

TEST(Bytes, ParseAndFormatInBinaryUnits) {
  EXPECT_EQ(*ParseBytes("12GiB"), uint64_t{12} << 30);
  EXPECT_EQ(*ParseBytes("512 MiB"), uint64_t{512} << 20);
  EXPECT_EQ(*ParseBytes("2g"), uint64_t{2} << 30);
  EXPECT_EQ(*ParseBytes("1.5K"), 1536u);
  EXPECT_EQ(*ParseBytes("4096"), 4096u);
  for (const char* bad : {"", "GiB", "12 parsecs", "-1G", "0", "0.5B", "1e30"}) {
    EXPECT_THAT(ParseBytes(bad).status(),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is not a size")))
        << bad;
  }
  EXPECT_EQ(FormatBytes(800), "800 B");
  EXPECT_EQ(FormatBytes(uint64_t{3} << 30), "3.00 GiB");
  EXPECT_EQ(FormatBytes(uint64_t{153} << 30), "153 GiB");
  EXPECT_EQ(FormatBytes(uint64_t{45} << 20), "45.0 MiB");
}

}  // namespace
}  // namespace feedloop
