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
      {"a0", "0", 0, {V("m", 1), V("k", 5)}},
      {"b0", "1", 1, {V("m", 10)}},
      {"a1", "0", 0, {V("m", 3), V("k", 5)}},
      {"a2", "0", 0, {V("m", 5), V("k", 5)}},
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

}  // namespace
}  // namespace feedloop::metrics
