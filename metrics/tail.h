// TailReference: round 0's content as the reference distribution of
// content.tail_recall, the measure of whether content keeps its tails.
//
// Tails are measured against round 0's own distribution, never against
// fixed topic centres: distance to a topic centre reads collapsed content
// that sits between topics as "all tail" exactly when the tails are gone.
// Instead (k-NN manifold recall, Kynkaanniemi et al. 2019, of round 0's
// tail):
//   - round 0's items are split by a seeded draw into a reference half R
//     (at most max_reference rows) and a held-out half H;
//   - the tail T is the part of R whose k-NN radius in R (cosine distance
//     to the k-th nearest other row of R) is at or above the `quantile` of
//     those radii: round 0's sparsest neighbourhoods, its tails;
//   - Recall(X) is the share of T inside the manifold of X: some x in X
//     has 1 - <t, x> <= rad(x), where rad(x) is the smaller of x's k-NN
//     radius in X and its distance to its k-th nearest row of R: x vouches
//     for the space around it only as far as both the new content and
//     round 0 are dense there.
// X is a seeded sample of |R| rows of the round measured (all of them when
// fewer), so recall does not rise with content volume alone; round 0's own
// value is H's recall, an out-of-sample estimate (about 0.7 to 0.8 at the
// default k = 10). Content that narrows loses recall fast (round 0's
// spread narrowed by a fifth roughly thirds it), and content collapsed
// anywhere, onto a topic centre or between topics, recalls none of the
// tail.
//
// Two plainer definitions were tried and rejected, each on a scenario
// where it reads the wrong way (metrics/tail_test.cc keeps the scenarios):
//   - density coverage (Naeem et al. 2020: balls of R's own radii): tail
//     items have the largest balls, which in 32 dimensions reach the topic
//     centres, so content narrowed to a third of round 0's spread still
//     "covered" the tail;
//   - plain manifold recall (balls of X's radii only): when most content
//     collapses, the few items left elsewhere are isolated in X, their
//     radii huge, and they "recall" the whole tail (95% collapsed content
//     read 1.0). Bounding each ball by round 0's radius at x removes that.
//
//   TailReference ref = TailReference::Build(round0_rows, options);
//   if (ref.ok()) double r = *ref.Recall(round_rows, rng);
//
// Immutable after Build; thread-safe.

#ifndef FEEDLOOP_METRICS_TAIL_H_
#define FEEDLOOP_METRICS_TAIL_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/random.h"

namespace feedloop::metrics {

class TailReference {
 public:
  struct Options {
    uint32_t dim = 0;
    // k of the k-NN radii. Default: 10.
    uint32_t neighbors = 10;
    // Radii at or above this quantile make the tail. Default: 0.9.
    double quantile = 0.9;
    // Most rows in R. Default: 2000.
    uint32_t max_reference = 2000;
    // Seeds the split of round 0. Default: 0.
    uint64_t seed = 0;
  };

  // An empty reference: ok() is false.
  TailReference() = default;
  // Unit rows of round 0. Too few rows to form a tail (R needs more than
  // `neighbors` rows) give a reference that is not ok().
  static TailReference Build(std::span<const float> rows, const Options& options);

  bool ok() const { return !tail_.empty(); }
  // Why the reference is not ok().
  const std::string& why_not() const { return why_not_; }
  size_t reference_size() const { return reference_size_; }
  size_t tail_size() const { return tail_rows_; }
  uint32_t neighbors() const { return k_; }

  // The two sides of one relation, "tail item t lies in the ball of x":
  // recall, the share of the tail inside some sample row's ball (are the
  // tails still reached at all?), and share, the share of sample rows
  // whose ball holds some tail item (how much of the content is in the
  // tails?). Content 80% collapsed and 20% spread like round 0 keeps most
  // of its recall and loses most of its share.
  struct Stats {
    double recall = 0;
    double share = 0;
  };
  // Round 0's own values: the held-out half's. nullopt when not ok().
  std::optional<Stats> HeldOut() const { return held_out_; }
  // The stats of a sample of |R| of `rows` (unit rows of dim), drawn with
  // `rng`. nullopt when not ok() or `rows` has no more than k rows (too few
  // to have k-NN radii).
  std::optional<Stats> Measure(std::span<const float> rows, Rng& rng) const;
  std::optional<double> Recall(std::span<const float> rows, Rng& rng) const {
    const std::optional<Stats> s = Measure(rows, rng);
    return s ? std::optional<double>(s->recall) : std::nullopt;
  }
  std::optional<double> HeldOutRecall() const {
    return held_out_ ? std::optional<double>(held_out_->recall) : std::nullopt;
  }

 private:
  std::optional<Stats> MeasureOf(std::span<const float> sample) const;

  uint32_t dim_ = 0;
  uint32_t k_ = 0;
  std::vector<float> reference_;  // R, row-major
  size_t reference_size_ = 0;
  std::vector<float> tail_;         // tail rows, row-major
  size_t tail_rows_ = 0;
  std::optional<Stats> held_out_;
  std::string why_not_ = "no round-0 items";
};

// C = A B^T for row-major A (a_rows x dim) and B (b_rows x dim), written
// row-major into `c` (a_rows x b_rows), through BLAS.
void InnerProducts(std::span<const float> a, std::span<const float> b,
                   uint32_t dim, std::vector<float>* c);

// Each row's cosine distance to its k-th nearest other row (k < rows).
std::vector<double> KnnRadii(std::span<const float> rows, uint32_t dim, uint32_t k);
// Each row of `rows`' cosine distance to its k-th nearest row of `to`
// (k <= rows of `to`).
std::vector<double> KnnDistancesTo(std::span<const float> rows, std::span<const float> to,
                                   uint32_t dim, uint32_t k);

}  // namespace feedloop::metrics

#endif  // FEEDLOOP_METRICS_TAIL_H_
