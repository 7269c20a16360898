#include "model/topic_space.h"

#include <cmath>

#include "common/vectors.h"
#include "gtest/gtest.h"

namespace feedloop::model {
namespace {

TEST(TopicSpace, SameConfigSameCentres) {
  v1::ExperimentConfig c;
  TopicSpace a = TopicSpace::FromConfig(c), b = TopicSpace::FromConfig(c);
  c.set_seed(2);
  TopicSpace other = TopicSpace::FromConfig(c);
  ASSERT_EQ(a.topics(), 16u);
  for (uint32_t t = 0; t < a.topics(); ++t) {
    for (uint32_t d = 0; d < a.dim(); ++d) {
      EXPECT_EQ(a.Centre(t)[d], b.Centre(t)[d]);
    }
    EXPECT_NEAR(Dot(a.Centre(t), a.Centre(t)), 1.0, 1e-6);
  }
  EXPECT_NE(a.Centre(0)[0], other.Centre(0)[0]);
}

TEST(TopicSpace, DrawAroundStaysNearTheCentreForSmallSpread) {
  TopicSpace space(32, 4, 1);
  Rng rng(3);
  std::vector<float> e(32);
  double tight = 0, loose = 0;
  for (int i = 0; i < 200; ++i) {
    DrawAround(space.Centre(1), 0.2, rng, e);
    EXPECT_NEAR(Dot(e, e), 1.0, 1e-5);
    tight += Dot(e, space.Centre(1));
    EXPECT_EQ(space.Nearest(e), 1u);
    DrawAround(space.Centre(1), 2.0, rng, e);
    loose += Dot(e, space.Centre(1));
  }
  // cos = 1/sqrt(1 + spread^2) in expectation for noise orthogonal to c.
  EXPECT_NEAR(tight / 200, 1 / std::sqrt(1.04), 0.02);
  EXPECT_NEAR(loose / 200, 1 / std::sqrt(5.0), 0.05);
}

TEST(TopicSpace, TitlesNameTheNearestTopic) {
  TopicSpace space(16, 40, 5);
  Rng rng(1);
  std::vector<float> e(space.Centre(0).begin(), space.Centre(0).end());
  const std::string title = space.Title(e, rng);
  const std::string space_words[] = {"orbit", "telescope", "comet", "rover",
                                     "nebula", "launch", "galaxy", "eclipse"};
  bool found = false;
  for (const auto& w : space_words) found |= title.rfind(w, 0) == 0;
  EXPECT_TRUE(found) << title;
  EXPECT_NE(title.find(" · "), std::string::npos);
  EXPECT_EQ(space.TopicName(0), "space");
  EXPECT_EQ(space.TopicName(33), "cooking-2");
}

}  // namespace
}  // namespace feedloop::model
