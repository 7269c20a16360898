// Known truth for the simulated users: satiation builds with what a user
// consumed and recovers; interest drift is exactly 0 without drift and
// never negative.

#include "loop/users.h"

#include "gtest/gtest.h"

namespace feedloop::loop {
namespace {

constexpr uint32_t kDim = 8;

v1::ExperimentConfig Config(double satiation, double drift = 0) {
  v1::ExperimentConfig c;
  c.set_seed(3);
  c.mutable_space()->set_dim(kDim);
  c.mutable_space()->set_topics(4);
  c.mutable_users()->set_count(4);
  c.mutable_users()->set_attention(3);
  c.mutable_users()->set_satiation(satiation);
  c.mutable_users()->set_satiation_recovery(0.5);
  c.mutable_users()->set_drift(drift);
  return c;
}

// The user's own interest direction, as an item.
std::vector<float> Own(const Users& users, uint32_t u) {
  return {users.Interest(u).begin(), users.Interest(u).end()};
}

TEST(Users, SatiationBuildsWithConsumptionAndRecovers) {
  const v1::ExperimentConfig config = Config(0.25);
  const model::TopicSpace space = model::TopicSpace::FromConfig(config);
  Users users(config, space);
  const std::vector<float> e = Own(users, 0);
  EXPECT_NEAR(users.Appeal(0, e), 1.0, 1e-6);
  std::vector<std::vector<std::span<const float>>> three(4), none(4);
  three[0] = {e, e, e};
  // s = 3e: penalty 0.25 * 0.5 * 3 / 3 = 0.125.
  users.Absorb(three);
  EXPECT_NEAR(users.Appeal(0, e), 0.875, 1e-6);
  // Another full round of the same: s = 1.5e + 3e, penalty 0.1875.
  users.Absorb(three);
  EXPECT_NEAR(users.Appeal(0, e), 1 - 0.1875, 1e-6);
  // A round without: half of it recovers.
  users.Absorb(none);
  EXPECT_NEAR(users.Appeal(0, e), 1 - 0.09375, 1e-6);
  // True affinity, which welfare counts, never changes; other users are
  // not tired.
  EXPECT_NEAR(users.Affinity(0, e), 1.0, 1e-6);
  EXPECT_NEAR(users.Appeal(1, Own(users, 1)), 1.0, 1e-6);
  // Steady state of three a round: s -> 6e, penalty -> satiation.
  for (int r = 0; r < 40; ++r) users.Absorb(three);
  EXPECT_NEAR(users.Appeal(0, e), 0.75, 1e-4);
}

TEST(Users, NoSatiationMeansAppealIsAffinity) {
  const v1::ExperimentConfig config = Config(0);
  const model::TopicSpace space = model::TopicSpace::FromConfig(config);
  Users users(config, space);
  const std::vector<float> e = Own(users, 2);
  std::vector<std::vector<std::span<const float>>> three(4);
  three[2] = {e, e, e};
  users.Absorb(three);
  EXPECT_EQ(users.Appeal(2, e), users.Affinity(2, e));
}

TEST(Users, InterestDriftIsZeroWithoutDriftAndGrowsWithIt) {
  const model::TopicSpace space = model::TopicSpace::FromConfig(Config(0));
  Users still(Config(0, /*drift=*/0), space), moving(Config(0, /*drift=*/0.5), space);
  std::vector<float> other(kDim, 0.0f);
  other[kDim - 1] = 1;
  std::vector<std::vector<std::span<const float>>> consumed(4);
  for (auto& c : consumed) c = {other};
  still.Absorb(consumed);
  moving.Absorb(consumed);
  // A vector's distance from itself is 0, not -1e-9.
  EXPECT_EQ(still.MeanInterestDrift(), 0.0);
  EXPECT_GT(moving.MeanInterestDrift(), 0.05);
}

}  // namespace
}  // namespace feedloop::loop
