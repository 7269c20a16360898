// SlatePolicy: how a user's scored candidates become a slate, the third of
// the ranker's jobs (with the item pool and the user model); and, from the
// same rules, how many examinations a new item would get in that slate,
// which is what ScoreItems pays creators for. Because both come from one
// place, a mitigation here (MMR, temperature, exploration) changes what
// content is rewarded, not only what is shown.
//
//   SlatePolicy policy(config);
//   SlatePolicy::Picked p = policy.Order(candidates, slate_size, &rng);
//   SlatePolicy::View view = policy.ViewOf(candidates, slate_size, ...);
//   double exam = policy.ExpectedExamination(score, vector, view);
//
// Immutable after construction; thread-safe.

#ifndef FEEDLOOP_RANKER_SLATE_POLICY_H_
#define FEEDLOOP_RANKER_SLATE_POLICY_H_

#include <cstdint>
#include <span>
#include <vector>

#include "common/random.h"
#include "feedloop/v1/config.pb.h"

namespace feedloop::ranker {

class SlatePolicy {
 public:
  explicit SlatePolicy(const v1::ExperimentConfig& config);

  struct Candidate {
    uint64_t id;
    double score;       // w_rel * relevance + popularity and freshness terms
    const float* vec;   // dim floats, valid during the call
  };

  struct Picked {
    std::vector<size_t> order;   // indices into the candidates, slate order
    std::vector<double> values;  // the value each was chosen at
  };

  // Orders `candidates` into at most `size` slate positions. Temperature 0:
  // greedily by value, the value being the score, or with MMR lambda > 0
  // (1 - lambda) * score - lambda * (largest similarity to the items chosen
  // so far); ties by candidate order. Temperature tau > 0: each position is
  // drawn from the candidates left with probability proportional to
  // exp(value / tau), with `rng` (which may then not be null).
  Picked Order(std::span<const Candidate> candidates, uint32_t size, Rng* rng) const;

  // A user's slate as the policy would build it now without exploration,
  // reduced to what pricing a new item needs.
  struct View {
    std::vector<const float*> slate;  // the greedy slate's vectors, in order
    std::vector<double> values;       // the values they were chosen at
    double log_partition = 0;         // log sum exp(score / tau), tau > 0
    uint32_t size = 0;                // the slate size asked for
    size_t live = 0;                  // live items (exploration's reach)
  };
  View ViewOf(std::span<const Candidate> candidates, uint32_t size, size_t live) const;

  // The probability that a new item with `score` and vector `vec` is
  // examined, given the probability `retrieval` that it is among the
  // user's candidates: at temperature 0 the position it would take in the
  // greedy slate (MMR included), examined with reward_position_decay^
  // position, each comparison with a slate item smoothed by
  // reward_smoothing (the ranker's score noise: creators cannot know their
  // rank exactly); above 0 the chance a softmax draw puts it in the slate
  // times the mean examination of a position; with exploration epsilon,
  // (1 - epsilon) of that plus the chance exploration brings it in.
  double ExpectedExamination(double score, std::span<const float> vec,
                             const View& view, double retrieval) const;

  // The chance a score `margin` above a rival's wins, under the smoothing.
  double Beats(double margin) const;

  // Mean examination probability of `size` positions.
  double MeanExamination(uint32_t size) const;

 private:
  Picked OrderAt(std::span<const Candidate> candidates, uint32_t size, Rng* rng,
                 double temperature) const;

  const uint32_t dim_;
  const double lambda_;
  const double temperature_;
  const double epsilon_;
  const double decay_;
  const double smoothing_;
};

}  // namespace feedloop::ranker

#endif  // FEEDLOOP_RANKER_SLATE_POLICY_H_
