#include "loadtest/histogram.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

namespace feedloop::loadtest {
namespace {

// The exact percentile with the histogram's definition: the smallest value
// with at least p% of the values at or below it.
int64_t ExactPercentile(std::vector<int64_t> values, double p) {
  std::sort(values.begin(), values.end());
  const size_t rank = std::max<size_t>(
      1, static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(values.size()))));
  return values[rank - 1];
}

void ExpectWithinOnePercent(const std::vector<int64_t>& values) {
  Histogram h;
  for (int64_t v : values) h.Record(v);
  for (double p : {0.0, 1.0, 10.0, 50.0, 90.0, 99.0, 99.9, 99.99, 100.0}) {
    const int64_t exact = ExactPercentile(values, p);
    const int64_t got = h.Percentile(p);
    EXPECT_GE(got, exact) << "p" << p;
    EXPECT_LE(static_cast<double>(got), static_cast<double>(exact) * 1.01 + 1) << "p" << p;
  }
  EXPECT_EQ(h.count(), values.size());
  EXPECT_EQ(h.min(), *std::min_element(values.begin(), values.end()));
  EXPECT_EQ(h.max(), *std::max_element(values.begin(), values.end()));
}

TEST(Histogram, PercentilesOfLognormalLatenciesWithinOnePercent) {
  std::mt19937_64 rng(7);
  // Median 200 us, a long tail up to seconds: many octaves.
  std::lognormal_distribution<double> dist(std::log(200e3), 1.5);
  std::vector<int64_t> values(200000);
  for (auto& v : values) v = static_cast<int64_t>(dist(rng));
  ExpectWithinOnePercent(values);
}

TEST(Histogram, PercentilesOfUniformAndSmallValues) {
  std::mt19937_64 rng(11);
  std::uniform_int_distribution<int64_t> wide(1, 60'000'000'000);  // up to 60 s
  std::uniform_int_distribution<int64_t> small(0, 300);
  std::vector<int64_t> a(50000), b(50000);
  for (auto& v : a) v = wide(rng);
  for (auto& v : b) v = small(rng);
  ExpectWithinOnePercent(a);
  ExpectWithinOnePercent(b);
}

TEST(Histogram, KnownPercentilesOfASmallSet) {
  Histogram h;
  for (int64_t v = 1; v <= 100; ++v) h.Record(v * 1000);  // 1..100 us
  // Bucket edges for 50,000 ns: width 512 from 49,152; so p50 reads 49,663.
  // Exact p50 is 50,000: the reading must be the bucket holding 50,000.
  EXPECT_GE(h.Percentile(50), 50000);
  EXPECT_LT(h.Percentile(50), 50000 + 512);
  EXPECT_EQ(h.Percentile(100), 100000);  // clamped to the exact max
  EXPECT_DOUBLE_EQ(h.mean(), 50500);
}

TEST(Histogram, MergeEqualsRecordingEverythingInOne) {
  std::mt19937_64 rng(3);
  std::exponential_distribution<double> dist(1.0 / 5e6);
  Histogram all, a, b;
  for (int i = 0; i < 20000; ++i) {
    const auto v = static_cast<int64_t>(dist(rng));
    all.Record(v);
    (i % 3 ? a : b).Record(v);
  }
  a.Merge(b);
  EXPECT_EQ(a.count(), all.count());
  EXPECT_EQ(a.min(), all.min());
  EXPECT_EQ(a.max(), all.max());
  for (double p : {50.0, 99.0, 99.9}) EXPECT_EQ(a.Percentile(p), all.Percentile(p));
  uint64_t total = 0;
  for (const auto& bucket : a.Buckets()) {
    EXPECT_LE(bucket.low, bucket.high);
    total += bucket.count;
  }
  EXPECT_EQ(total, a.count());
}

TEST(Histogram, ValuesPastTheRangeSaturate) {
  Histogram h;
  h.Record(-5);
  h.Record(Histogram::kMaxValue + 1000, 3);
  EXPECT_EQ(h.saturated(), 3u);
  EXPECT_EQ(h.min(), 0);
  EXPECT_EQ(h.max(), Histogram::kMaxValue);
  EXPECT_EQ(h.Percentile(50), Histogram::kMaxValue);
  Histogram empty;
  EXPECT_EQ(empty.Percentile(99), 0);
}

}  // namespace
}  // namespace feedloop::loadtest
