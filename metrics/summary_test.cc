#include "metrics/summary.h"

#include <cmath>

#include "gtest/gtest.h"

namespace feedloop::metrics {
namespace {

v1::MetricValue V(const char* name, double value) {
  v1::MetricValue v;
  v.set_name(name);
  v.set_value(value);
  return v;
}

TEST(Summary, GroupsBySweepPointWithStudentInterval) {
  std::vector<RunValues> runs = {
      {"a0", "0", 0, v1::DONE, {V("m", 1), V("k", 5)}},
      {"b0", "1", 1, v1::DONE, {V("m", 10)}},
      {"a1", "0", 0, v1::DONE, {V("m", 3), V("k", 5)}},
      {"a2", "0", 0, v1::DONE, {V("m", 5), V("k", 5)}},
  };
  auto groups = GroupBySweepPoint(runs);
  ASSERT_EQ(groups.size(), 2u);
  EXPECT_EQ(groups[0].sweep_value(), "0");
  ASSERT_EQ(groups[0].run_ids_size(), 3);
  // k first (sorted), zero spread.
  EXPECT_EQ(groups[0].metrics(0).metric(), "k");
  EXPECT_DOUBLE_EQ(groups[0].metrics(0).ci_low(), 5);
  // m: mean 3, sd 2, n 3 -> half width 4.303 * 2 / sqrt(3).
  const auto& m = groups[0].metrics(1);
  EXPECT_DOUBLE_EQ(m.mean(), 3);
  EXPECT_NEAR(m.ci_high() - m.mean(), 4.303 * 2 / std::sqrt(3.0), 1e-9);
  EXPECT_EQ(m.n(), 3u);
  // A single replicate: the interval collapses to the mean.
  EXPECT_DOUBLE_EQ(groups[1].metrics(0).ci_low(), 10);
  EXPECT_DOUBLE_EQ(groups[1].metrics(0).ci_high(), 10);
}

// Which runs count: a run stopped early has a "final" value from another
// round (here far off); counting every run with rounds would put the mean
// at 34.67. Only DONE runs count, and the rest are reported by status.
TEST(Summary, OnlyRunsThatPlayedEveryRoundCount) {
  std::vector<RunValues> runs = {
      {"a0", "0", 0, v1::DONE, {V("m", 1)}},
      {"a1", "0", 0, v1::STOPPED, {V("m", 100)}},
      {"a2", "0", 0, v1::DONE, {V("m", 3)}},
      {"b0", "1", 1, v1::RUNNING, {V("m", 7)}},
      {"b1", "1", 1, v1::FAILED, {}},
  };
  auto groups = GroupBySweepPoint(runs);
  ASSERT_EQ(groups.size(), 2u);
  ASSERT_EQ(groups[0].metrics_size(), 1);
  EXPECT_DOUBLE_EQ(groups[0].metrics(0).mean(), 2);
  EXPECT_EQ(groups[0].metrics(0).n(), 2u);
  EXPECT_EQ(groups[0].run_ids_size(), 2);
  EXPECT_EQ(groups[0].runs_by_status().at("DONE"), 2u);
  EXPECT_EQ(groups[0].runs_by_status().at("STOPPED"), 1u);
  EXPECT_EQ(FormatRunsCounted(groups[0]), "2 of 3 (1 STOPPED)");
  EXPECT_EQ(groups[0].runs_counted(), "2 of 3 (1 STOPPED)");
  // A group with no run done: listed, with nothing to average.
  EXPECT_EQ(groups[1].run_ids_size(), 0);
  EXPECT_EQ(groups[1].metrics_size(), 0);
  EXPECT_EQ(FormatRunsCounted(groups[1]), "0 of 2 (1 FAILED, 1 RUNNING)");
  EXPECT_TRUE(Counts(v1::DONE));
  for (v1::RunStatus s : {v1::PENDING, v1::RUNNING, v1::STOPPED, v1::FAILED}) {
    EXPECT_FALSE(Counts(s)) << v1::RunStatus_Name(s);
  }
}

}  // namespace
}  // namespace feedloop::metrics
