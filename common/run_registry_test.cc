#include "common/run_registry.h"

#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"

namespace feedloop {
namespace {

using ::feedloop::testing::StatusIs;
using ::testing::HasSubstr;

TEST(RunRegistry, FindsWhatWasPutAndNamesTheServiceWhenNot) {
  RunRegistry<int> runs("ranker");
  EXPECT_THAT(runs.Find("a"), StatusIs(absl::StatusCode::kNotFound,
                                       HasSubstr("run 'a' is not open on this ranker")));
  EXPECT_FALSE(runs.Get("a").has_value());
  runs.Put("a", "config-1", std::make_shared<int>(7));
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<int> a, runs.Find("a"));
  EXPECT_EQ(*a, 7);
  ASSERT_TRUE(runs.Get("a").has_value());
  EXPECT_EQ(runs.Get("a")->config_bytes, "config-1");
  EXPECT_EQ(runs.size(), 1u);
}

TEST(RunRegistry, PutReplacesAndCloseKeepsHoldersAlive) {
  RunRegistry<int> runs("generator");
  runs.Put("a", "c1", std::make_shared<int>(1));
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<int> held, runs.Find("a"));
  runs.Put("a", "c2", std::make_shared<int>(2));
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<int> now, runs.Find("a"));
  EXPECT_EQ(*now, 2);
  EXPECT_EQ(runs.Get("a")->config_bytes, "c2");
  ASSERT_OK(runs.Close("a"));
  EXPECT_EQ(*held, 1);  // a caller's object outlives the close
  EXPECT_THAT(runs.Close("a"), StatusIs(absl::StatusCode::kNotFound,
                                        HasSubstr("not open on this generator")));
  EXPECT_EQ(runs.size(), 0u);
}

}  // namespace
}  // namespace feedloop
