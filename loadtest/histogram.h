// A latency histogram in the manner of HdrHistogram: log-linear buckets
// that keep every recorded value to within 1/128 (< 1%) relative error,
// from 1 ns to about 68 s, in 3,840 counters (30 KB). Min, max, count and
// mean are exact. Debian packages no HdrHistogram, hence this one.
//
//   Histogram h;
//   h.Record(absl::ToInt64Nanoseconds(latency));
//   int64_t p99 = h.Percentile(99);   // ns, within 1% of the exact p99
//   total.Merge(h);
//
// Not thread-safe: keep one per thread and Merge them.

#ifndef FEEDLOOP_LOADTEST_HISTOGRAM_H_
#define FEEDLOOP_LOADTEST_HISTOGRAM_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace feedloop::loadtest {

class Histogram {
 public:
  // Values above this are recorded as kMaxValue (and counted in
  // saturated()). About 68.7 s in nanoseconds.
  static constexpr int64_t kMaxValue = (int64_t{1} << 36) - 1;

  Histogram();

  // Records `value` (ns; negative values count as 0) `count` times.
  void Record(int64_t value, uint64_t count = 1);
  void Merge(const Histogram& other);
  void Clear();

  uint64_t count() const { return count_; }
  uint64_t saturated() const { return saturated_; }
  int64_t min() const { return count_ ? min_ : 0; }
  int64_t max() const { return max_; }
  double mean() const { return count_ ? sum_ / static_cast<double>(count_) : 0; }

  // The smallest recorded value v such that at least p% of the values are
  // <= v, as the upper edge of v's bucket (clamped to max()): never below
  // the exact percentile, and above it by less than 1%. p in [0, 100];
  // 0 when empty.
  int64_t Percentile(double p) const;

  // Non-empty buckets, in order: [low, high] and their counts.
  struct Bucket {
    int64_t low;
    int64_t high;
    uint64_t count;
  };
  std::vector<Bucket> Buckets() const;

 private:
  static constexpr int kSubBits = 7;  // 128 linear sub-buckets per octave
  static constexpr int64_t kSub = int64_t{1} << kSubBits;

  static size_t IndexOf(int64_t value);
  static int64_t LowOf(size_t index);
  static int64_t HighOf(size_t index);

  std::vector<uint64_t> counts_;
  uint64_t count_ = 0;
  uint64_t saturated_ = 0;
  int64_t min_ = 0;
  int64_t max_ = 0;
  double sum_ = 0;
};

}  // namespace feedloop::loadtest

#endif  // FEEDLOOP_LOADTEST_HISTOGRAM_H_
