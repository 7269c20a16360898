// Seeded, portable random numbers.
//
// The standard library's distributions differ between implementations, so
// feedloop draws everything through this generator: the same seed gives the
// same numbers on every platform and compiler. Streams are split by hashing
// a tag into the seed, so that (for example) user 17's draws in round 3 do
// not depend on how many other users were processed first or on which
// thread:
//
//   Rng rng(DeriveSeed(config.seed(), kUserStream, round, user_id));
//   double u = rng.Uniform();        // [0, 1)
//   double z = rng.Normal();         // N(0, 1)
//   uint64_t k = rng.UniformInt(10); // [0, 10)
//
// Not thread-safe: give each thread (or each unit of work) its own Rng.

#ifndef FEEDLOOP_COMMON_RANDOM_H_
#define FEEDLOOP_COMMON_RANDOM_H_

#include <cstdint>
#include <initializer_list>
#include <span>
#include <vector>

namespace feedloop {

// Mixes a seed with any number of tags into a new, well-spread seed.
uint64_t DeriveSeed(uint64_t seed, std::initializer_list<uint64_t> tags);

template <typename... Tags>
uint64_t DeriveSeed(uint64_t seed, Tags... tags) {
  return DeriveSeed(seed, {static_cast<uint64_t>(tags)...});
}

// xoshiro256** seeded through SplitMix64.
class Rng {
 public:
  explicit Rng(uint64_t seed);

  uint64_t Next();
  // Uniform in [0, 1), 53 random bits.
  double Uniform();
  // Uniform in [0, n); n > 0. Unbiased (Lemire's method).
  uint64_t UniformInt(uint64_t n);
  // Standard normal (Box-Muller; the spare value is kept).
  double Normal();
  // Gamma(shape, 1), shape > 0 (Marsaglia and Tsang).
  double Gamma(double shape);
  // A Dirichlet(concentration) draw of `k` weights summing to 1.
  std::vector<double> Dirichlet(int k, double concentration);
  // `k` distinct values from [0, n), k <= n, in draw order.
  std::vector<uint64_t> SampleWithoutReplacement(uint64_t n, uint64_t k);

 private:
  uint64_t s_[4];
  bool has_spare_ = false;
  double spare_ = 0;
};

}  // namespace feedloop

#endif  // FEEDLOOP_COMMON_RANDOM_H_
