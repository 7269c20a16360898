#include "loadtest/histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace feedloop::loadtest {

// Values below 2 * kSub have a bucket each. Above, each octave
// [2^m, 2^(m+1)) is cut into kSub equal buckets of width 2^(m - kSubBits),
// so a bucket is never wider than 1/kSub of its lower edge.
size_t Histogram::IndexOf(int64_t value) {
  if (value < 2 * kSub) return static_cast<size_t>(value);
  const int msb = 63 - std::countl_zero(static_cast<uint64_t>(value));
  const int shift = msb - kSubBits;
  const int64_t sub = value >> shift;  // in [kSub, 2 * kSub)
  return static_cast<size_t>(2 * kSub + (shift - 1) * kSub + (sub - kSub));
}

int64_t Histogram::LowOf(size_t index) {
  if (index < static_cast<size_t>(2 * kSub)) return static_cast<int64_t>(index);
  const int64_t k = static_cast<int64_t>(index) - 2 * kSub;
  const int shift = static_cast<int>(k / kSub) + 1;
  return (kSub + k % kSub) << shift;
}

int64_t Histogram::HighOf(size_t index) {
  if (index < static_cast<size_t>(2 * kSub)) return static_cast<int64_t>(index);
  const int64_t k = static_cast<int64_t>(index) - 2 * kSub;
  const int shift = static_cast<int>(k / kSub) + 1;
  return LowOf(index) + (int64_t{1} << shift) - 1;
}

Histogram::Histogram() : counts_(IndexOf(kMaxValue) + 1, 0) {}

void Histogram::Record(int64_t value, uint64_t count) {
  if (count == 0) return;
  value = std::max<int64_t>(value, 0);
  if (value > kMaxValue) {
    value = kMaxValue;
    saturated_ += count;
  }
  counts_[IndexOf(value)] += count;
  if (count_ == 0 || value < min_) min_ = value;
  max_ = std::max(max_, value);
  count_ += count;
  sum_ += static_cast<double>(value) * static_cast<double>(count);
}

void Histogram::Merge(const Histogram& other) {
  if (other.count_ == 0) return;
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  min_ = count_ == 0 ? other.min_ : std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
  count_ += other.count_;
  saturated_ += other.saturated_;
  sum_ += other.sum_;
}

void Histogram::Clear() { *this = Histogram(); }

int64_t Histogram::Percentile(double p) const {
  if (count_ == 0) return 0;
  p = std::clamp(p, 0.0, 100.0);
  // The rank of the value asked for: at least p% of the values at or below.
  const uint64_t rank = std::max<uint64_t>(
      1, static_cast<uint64_t>(std::ceil(p / 100.0 * static_cast<double>(count_))));
  uint64_t seen = 0;
  for (size_t i = 0; i < counts_.size(); ++i) {
    seen += counts_[i];
    if (seen >= rank) return std::min(HighOf(i), max_);
  }
  return max_;
}

std::vector<Histogram::Bucket> Histogram::Buckets() const {
  std::vector<Bucket> out;
  for (size_t i = 0; i < counts_.size(); ++i) {
    if (counts_[i] > 0) out.push_back({LowOf(i), HighOf(i), counts_[i]});
  }
  return out;
}

}  // namespace feedloop::loadtest
