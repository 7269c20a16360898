// Known-truth tests of the slate policy: how it orders candidates, and
// what it says a new item would earn in a slate (the generator's reward).

#include "ranker/slate_policy.h"

#include <cmath>

#include "gtest/gtest.h"

namespace feedloop::ranker {
namespace {

constexpr uint32_t kDim = 4;

v1::ExperimentConfig Config(double lambda = 0, double temperature = 0,
                            double epsilon = 0, double smoothing = 0) {
  v1::ExperimentConfig c;
  c.mutable_space()->set_dim(kDim);
  c.mutable_ranker()->set_mmr_lambda(lambda);
  c.mutable_ranker()->set_temperature(temperature);
  c.mutable_ranker()->set_epsilon(epsilon);
  c.mutable_ranker()->set_reward_smoothing(smoothing);
  c.mutable_ranker()->set_reward_position_decay(0.5);
  return c;
}

// Unit vectors along axes, and one between axes 0 and 1.
const float kE0[kDim] = {1, 0, 0, 0};
const float kE0b[kDim] = {0.999f, 0.0447f, 0, 0};  // a near-duplicate of e0
const float kE1[kDim] = {0, 1, 0, 0};
const float kE2[kDim] = {0, 0, 1, 0};

TEST(SlatePolicy, GreedyOrdersByScore) {
  const SlatePolicy policy(Config());
  const std::vector<SlatePolicy::Candidate> c = {
      {1, 0.2, kE0}, {2, 0.9, kE1}, {3, 0.5, kE2}};
  const auto picked = policy.Order(c, 2, nullptr);
  EXPECT_EQ(picked.order, (std::vector<size_t>{1, 2}));
  EXPECT_EQ(picked.values, (std::vector<double>{0.9, 0.5}));
}

TEST(SlatePolicy, MmrPassesOverANearDuplicate) {
  // e0 first; its near-duplicate scores second but is penalized as a copy.
  const std::vector<SlatePolicy::Candidate> c = {
      {1, 0.9, kE0}, {2, 0.85, kE0b}, {3, 0.6, kE1}};
  EXPECT_EQ(SlatePolicy(Config(0)).Order(c, 2, nullptr).order, (std::vector<size_t>{0, 1}));
  EXPECT_EQ(SlatePolicy(Config(0.5)).Order(c, 2, nullptr).order, (std::vector<size_t>{0, 2}));
}

TEST(SlatePolicy, TemperatureDrawsEveryCandidateSometimesAndIsSeeded) {
  const SlatePolicy policy(Config(0, /*temperature=*/0.5));
  const std::vector<SlatePolicy::Candidate> c = {{1, 1.0, kE0}, {2, 0.0, kE1}};
  int second_first = 0;
  for (int i = 0; i < 1000; ++i) {
    Rng rng(i);
    second_first += policy.Order(c, 1, &rng).order[0] == 1;
  }
  // exp(0) / (exp(0) + exp(2)) = 0.119.
  EXPECT_NEAR(second_first / 1000.0, 0.119, 0.03);
  Rng a(7), b(7);
  EXPECT_EQ(policy.Order(c, 2, &a).order, policy.Order(c, 2, &b).order);
}

TEST(SlatePolicy, ANewItemEarnsTheExaminationOfThePositionItWouldTake) {
  const SlatePolicy policy(Config());
  const std::vector<SlatePolicy::Candidate> c = {
      {1, 0.9, kE0}, {2, 0.6, kE1}, {3, 0.3, kE2}};
  const auto view = policy.ViewOf(c, 3, 100);
  // Position decay 0.5: top 1, second 0.5, third 0.25, out of the slate 0.
  EXPECT_DOUBLE_EQ(policy.ExpectedExamination(1.0, kE2, view, 1), 1.0);
  EXPECT_DOUBLE_EQ(policy.ExpectedExamination(0.7, kE2, view, 1), 0.5);
  EXPECT_DOUBLE_EQ(policy.ExpectedExamination(0.4, kE2, view, 1), 0.25);
  EXPECT_DOUBLE_EQ(policy.ExpectedExamination(0.1, kE2, view, 1), 0.0);
  // Not retrieved: nothing.
  EXPECT_DOUBLE_EQ(policy.ExpectedExamination(1.0, kE2, view, 0), 0.0);
  // A short slate has room at its end.
  const auto short_view = policy.ViewOf(std::span(c).first(1), 3, 100);
  EXPECT_DOUBLE_EQ(policy.ExpectedExamination(0.1, kE2, short_view, 1), 0.5);
}

TEST(SlatePolicy, MmrPaysLessForACopyOfTheTopItemThanForSomethingNew) {
  // The user's slate: e0 at the top, then e1. Two new items with the same
  // score 0.8: a copy of e0, and e2. Without MMR both take position 1;
  // with MMR the copy is penalized by its similarity to the top item.
  const std::vector<SlatePolicy::Candidate> c = {{1, 0.9, kE0}, {2, 0.5, kE1}};
  const SlatePolicy plain(Config(0)), mmr(Config(0.5));
  const auto pv = plain.ViewOf(c, 2, 100), mv = mmr.ViewOf(c, 2, 100);
  EXPECT_DOUBLE_EQ(plain.ExpectedExamination(0.8, kE0b, pv, 1),
                   plain.ExpectedExamination(0.8, kE2, pv, 1));
  EXPECT_DOUBLE_EQ(mmr.ExpectedExamination(0.8, kE2, mv, 1), 0.5);
  EXPECT_DOUBLE_EQ(mmr.ExpectedExamination(0.8, kE0b, mv, 1), 0.0);
}

TEST(SlatePolicy, SmoothingMakesThePayoffContinuousInTheScore) {
  const SlatePolicy exact(Config(0, 0, 0, 0)), smooth(Config(0, 0, 0, 0.05));
  const std::vector<SlatePolicy::Candidate> c = {{1, 0.9, kE0}, {2, 0.6, kE1}};
  const auto ev = exact.ViewOf(c, 2, 100), sv = smooth.ViewOf(c, 2, 100);
  // Exactly: a step at the rival's score. Smoothed: halfway at it, rising.
  EXPECT_DOUBLE_EQ(exact.ExpectedExamination(0.6, kE2, ev, 1), 0);
  const double below = smooth.ExpectedExamination(0.55, kE2, sv, 1);
  const double at = smooth.ExpectedExamination(0.6, kE2, sv, 1);
  const double above = smooth.ExpectedExamination(0.65, kE2, sv, 1);
  EXPECT_LT(below, at);
  EXPECT_LT(at, above);
  EXPECT_NEAR(at, 0.5 * 0.5, 0.02);
}

TEST(SlatePolicy, TemperatureAndExplorationSpreadThePayoff) {
  const std::vector<SlatePolicy::Candidate> c = {{1, 0.9, kE0}, {2, 0.6, kE1}};
  // Hot: a new item as good as the best gets about a third of each draw.
  const SlatePolicy hot(Config(0, /*temperature=*/100));
  const auto hv = hot.ViewOf(c, 1, 100);
  EXPECT_NEAR(hot.ExpectedExamination(0.9, kE2, hv, 1), 1.0 / 3, 0.01);
  // Exploration gives even an unretrieved item its share: epsilon *
  // slate / (live + 1) * mean examination.
  const SlatePolicy explore(Config(0, 0, /*epsilon=*/0.2));
  const auto xv = explore.ViewOf(c, 2, 99);
  EXPECT_NEAR(explore.ExpectedExamination(0.1, kE2, xv, 0), 0.2 * 2.0 / 100 * 0.75, 1e-12);
}

}  // namespace
}  // namespace feedloop::ranker
