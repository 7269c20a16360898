// content.tail_recall against scenarios where the answer is known: the
// same distribution keeps its tails, collapse onto a topic centre or onto a
// point between topics loses them, and the first wave's definition
// (distance to the nearest topic centre) reads the second collapse the
// wrong way round.

#include "metrics/tail.h"

#include <cmath>

#include "common/vectors.h"
#include "gtest/gtest.h"
#include "metrics/diversity.h"
#include "model/topic_space.h"

namespace feedloop::metrics {
namespace {

constexpr uint32_t kDim = 16;
constexpr uint32_t kTopics = 8;

// n items spread like a round 0: each near a random topic centre.
std::vector<float> Spread(const model::TopicSpace& space, size_t n, uint64_t seed,
                          double spread = 0.5) {
  Rng rng(seed);
  std::vector<float> rows(n * kDim);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t t = static_cast<uint32_t>(rng.UniformInt(space.topics()));
    model::DrawAround(space.Centre(t), spread, rng,
                      std::span<float>(rows.data() + i * kDim, kDim));
  }
  return rows;
}

// n items tightly around one direction.
std::vector<float> Around(std::span<const float> centre, size_t n, uint64_t seed) {
  Rng rng(seed);
  std::vector<float> rows(n * kDim);
  for (size_t i = 0; i < n; ++i) {
    model::DrawAround(centre, 0.05, rng, std::span<float>(rows.data() + i * kDim, kDim));
  }
  return rows;
}

// The first wave's content.tail_mass: the share of rows farther from their
// nearest topic centre than round 0's 90th percentile.
double OldTailMass(const model::TopicSpace& space, std::span<const float> round0,
                   std::span<const float> rows) {
  auto distances = [&](std::span<const float> r) {
    std::vector<double> d;
    for (size_t i = 0; i < r.size() / kDim; ++i) {
      const auto e = r.subspan(i * kDim, kDim);
      d.push_back(1 - Dot(e, space.Centre(space.Nearest(e))));
    }
    return d;
  };
  const double cut = Quantile(distances(round0), 0.9);
  size_t tail = 0;
  const auto d = distances(rows);
  for (double x : d) tail += x > cut;
  return static_cast<double>(tail) / d.size();
}

// The two rejected definitions, over the same tail: plain manifold recall
// (balls of the sample's own radii) and density coverage (balls of the
// reference's radii). `tail` and `tail_radius` are the reference's tail
// rows and their radii in R.
double PlainRecall(std::span<const float> tail, std::span<const float> rows, uint32_t k) {
  const std::vector<double> radius = KnnRadii(rows, kDim, k);
  std::vector<float> ip;
  InnerProducts(tail, rows, kDim, &ip);
  const size_t t = tail.size() / kDim, m = rows.size() / kDim;
  size_t hit = 0;
  for (size_t i = 0; i < t; ++i) {
    bool in = false;
    for (size_t j = 0; j < m && !in; ++j) in = 1.0 - ip[i * m + j] <= radius[j];
    hit += in;
  }
  return static_cast<double>(hit) / t;
}

double Coverage(std::span<const float> tail, std::span<const double> tail_radius,
                std::span<const float> rows) {
  std::vector<float> ip;
  InnerProducts(tail, rows, kDim, &ip);
  const size_t t = tail.size() / kDim, m = rows.size() / kDim;
  size_t hit = 0;
  for (size_t i = 0; i < t; ++i) {
    bool in = false;
    for (size_t j = 0; j < m && !in; ++j) in = 1.0 - ip[i * m + j] <= tail_radius[i];
    hit += in;
  }
  return static_cast<double>(hit) / t;
}

class TailTest : public ::testing::Test {
 protected:
  TailTest() : space_(kDim, kTopics, 7), round0_(Spread(space_, 1200, 1)) {
    TailReference::Options o;
    o.dim = kDim;
    o.seed = 3;
    ref_ = TailReference::Build(round0_, o);
  }
  model::TopicSpace space_;
  std::vector<float> round0_;
  TailReference ref_;
};

TEST_F(TailTest, ReferenceIsHalfOfRoundZeroAndItsSparsestTenth) {
  ASSERT_TRUE(ref_.ok()) << ref_.why_not();
  EXPECT_EQ(ref_.reference_size(), 600u);
  EXPECT_NEAR(static_cast<double>(ref_.tail_size()), 60, 2);
}

TEST_F(TailTest, TheSameDistributionKeepsItsTails) {
  Rng rng(5);
  const double held_out = *ref_.HeldOutRecall();
  const double fresh = *ref_.Recall(Spread(space_, 600, 99), rng);
  EXPECT_GT(held_out, 0.45);
  EXPECT_GT(fresh, 0.45);
  EXPECT_NEAR(fresh, held_out, 0.2);
}

TEST_F(TailTest, CollapseOntoATopicCentreLosesTheTails) {
  Rng rng(5);
  const auto collapsed = Around(space_.Centre(2), 600, 11);
  const double recall = *ref_.Recall(collapsed, rng);
  EXPECT_LT(recall, 0.05);
  EXPECT_LT(recall, *ref_.HeldOutRecall() - 0.4);
  // Here the old definition happens to agree in sign (it falls to 0).
  EXPECT_LT(OldTailMass(space_, round0_, collapsed), 0.05);
}

TEST_F(TailTest, CollapseBetweenTopicsLosesTheTailsWhereTopicDistanceSaysTheOpposite) {
  std::vector<float> between(kDim);
  for (uint32_t d = 0; d < kDim; ++d) {
    between[d] = space_.Centre(0)[d] + space_.Centre(1)[d] + space_.Centre(4)[d];
  }
  ASSERT_TRUE(Normalize(std::span<float>(between)));
  const auto collapsed = Around(between, 600, 12);
  Rng rng(5);
  const double recall = *ref_.Recall(collapsed, rng);
  EXPECT_LT(recall, 0.05);
  // The plausible wrong definition: content between topics is far from
  // every centre, so "tail mass" rises from 0.1 to nearly all of it while
  // the tails have in fact gone.
  const double old_before = OldTailMass(space_, round0_, Spread(space_, 600, 99));
  const double old_after = OldTailMass(space_, round0_, collapsed);
  EXPECT_NEAR(old_before, 0.1, 0.05);
  EXPECT_GT(old_after, 0.9);
}

TEST_F(TailTest, RecallDoesNotRiseWithVolumeAlone) {
  Rng rng(8);
  const double same = *ref_.Recall(Spread(space_, 600, 21), rng);
  const double ten_times = *ref_.Recall(Spread(space_, 6000, 22), rng);
  EXPECT_NEAR(ten_times, same, 0.2);
}

TEST_F(TailTest, NarrowingContentLowersRecallStepByStep) {
  // Spreads 0.5 (round 0's), 0.4, 0.3 around the same centres: the tails
  // thin out, and recall must fall with them. (Density coverage, with
  // round 0's own radii, stayed above 0.95 down to spread 0.15 here.)
  Rng rng(9);
  const double wide = *ref_.Recall(Spread(space_, 600, 31, 0.5), rng);
  const double mid = *ref_.Recall(Spread(space_, 600, 32, 0.4), rng);
  const double narrow = *ref_.Recall(Spread(space_, 600, 33, 0.3), rng);
  EXPECT_GT(wide, mid + 0.15);
  EXPECT_GT(mid, narrow);
  EXPECT_LT(narrow, 0.15);
}

TEST_F(TailTest, TheRejectedDefinitionsReadTheWrongWay) {
  // Rebuild the reference's tail here, as Build does, to price the two
  // rejected definitions on it.
  std::vector<float> reference;
  {
    Rng rng(3);
    const auto order = rng.SampleWithoutReplacement(1200, 1200);
    for (size_t i = 0; i < 600; ++i) {
      reference.insert(reference.end(), round0_.begin() + order[i] * kDim,
                       round0_.begin() + (order[i] + 1) * kDim);
    }
  }
  const std::vector<double> radius = KnnRadii(reference, kDim, 10);
  const double cut = Quantile(radius, 0.9);
  std::vector<float> tail;
  std::vector<double> tail_radius;
  for (size_t i = 0; i < 600; ++i) {
    if (radius[i] < cut) continue;
    tail.insert(tail.end(), reference.begin() + i * kDim, reference.begin() + (i + 1) * kDim);
    tail_radius.push_back(radius[i]);
  }
  ASSERT_EQ(tail.size() / kDim, ref_.tail_size());
  Rng rng(10);

  // Content narrowed to 0.3 of round 0's spread 0.5: coverage still reads
  // nearly all of the tail as covered.
  const auto narrow = Spread(space_, 600, 41, 0.15);
  EXPECT_GT(Coverage(tail, tail_radius, narrow), 0.8);
  EXPECT_LT(*ref_.Recall(narrow, rng), 0.1);

  // 95% of content collapsed onto one centre, the last 5% narrow around
  // the other centres: isolated in the sample, those few items have huge
  // radii and plain recall reads the whole tail as reached.
  std::vector<float> mostly = Around(space_.Centre(0), 570, 42);
  {
    Rng draw(43);
    std::vector<float> e(kDim);
    for (int i = 0; i < 30; ++i) {
      model::DrawAround(space_.Centre(1 + i % (kTopics - 1)), 0.15, draw, e);
      mostly.insert(mostly.end(), e.begin(), e.end());
    }
  }
  EXPECT_GT(PlainRecall(tail, mostly, 10), 0.6);
  EXPECT_LT(*ref_.Recall(mostly, rng), 0.15);
  // And on the same distribution all three agree that the tail is there.
  const auto same = Spread(space_, 600, 44);
  EXPECT_GT(PlainRecall(tail, same, 10), 0.45);
  EXPECT_GT(Coverage(tail, tail_radius, same), 0.9);
}

TEST_F(TailTest, ShareCountsTailContentWhereRecallCountsReach) {
  // Four fifths of the content collapsed onto one centre, one fifth spread
  // like round 0: the tails are still reached (recall holds up), but much
  // less of the content is tail content (share falls with the mass).
  std::vector<float> mixed = Around(space_.Centre(3), 480, 51);
  const auto spread = Spread(space_, 120, 52);
  mixed.insert(mixed.end(), spread.begin(), spread.end());
  Rng rng(11);
  const auto base = *ref_.Measure(Spread(space_, 600, 53), rng);
  const auto part = *ref_.Measure(mixed, rng);
  std::cout << "same distribution: recall " << base.recall << " share " << base.share
            << "; 80% collapsed: recall " << part.recall << " share " << part.share << "\n";
  EXPECT_GT(base.share, 0.1);
  EXPECT_LT(part.share, base.share * 0.5);
  EXPECT_GT(part.recall, base.recall * 0.4);
  // Collapsed entirely, neither remains.
  const auto none = *ref_.Measure(Around(space_.Centre(3), 600, 54), rng);
  EXPECT_LT(none.share, 0.02);
  EXPECT_LT(none.recall, 0.05);
}

TEST(Tail, TooFewRoundZeroItemsIsNotAReference) {
  const model::TopicSpace space(kDim, kTopics, 7);
  TailReference::Options o;
  o.dim = kDim;
  const TailReference ref = TailReference::Build(Spread(space, 10, 1), o);
  EXPECT_FALSE(ref.ok());
  EXPECT_NE(ref.why_not().find("has 10 items"), std::string::npos) << ref.why_not();
  Rng rng(1);
  EXPECT_FALSE(ref.Recall(Spread(space, 100, 2), rng).has_value());
  EXPECT_FALSE(TailReference().ok());
}

TEST(Tail, InnerProductsMatchDot) {
  const model::TopicSpace space(kDim, kTopics, 7);
  const auto a = Spread(space, 5, 1), b = Spread(space, 3, 2);
  std::vector<float> c;
  InnerProducts(a, b, kDim, &c);
  ASSERT_EQ(c.size(), 15u);
  for (size_t i = 0; i < 5; ++i) {
    for (size_t j = 0; j < 3; ++j) {
      EXPECT_NEAR(c[i * 3 + j],
                  Dot(std::span<const float>(a).subspan(i * kDim, kDim),
                      std::span<const float>(b).subspan(j * kDim, kDim)),
                  1e-5);
    }
  }
}

}  // namespace
}  // namespace feedloop::metrics
