#include "generator/generator.h"

#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/random.h"
#include "common/vectors.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "model/topic_space.h"
#include "testing/status_matchers.h"

namespace feedloop::generator {
namespace {

using ::feedloop::testing::StatusIs;
using ::testing::HasSubstr;

constexpr uint32_t kDim = 16;

// A reward model that favours one direction: score = sigmoid(8 <c, r>).
class RegionReward final : public RewardModel {
 public:
  explicit RegionReward(std::vector<float> region) : region_(std::move(region)) {}
  absl::StatusOr<std::vector<float>> Score(const std::string&, uint32_t,
                                           std::span<const float> c,
                                           std::span<const float>, uint32_t dim,
                                           uint32_t, uint64_t,
                                           const Cancellation&) override {
    ++calls_;
    std::vector<float> out(c.size() / dim);
    for (size_t i = 0; i < out.size(); ++i) {
      out[i] = static_cast<float>(
          1 / (1 + std::exp(-8 * Dot(c.subspan(i * dim, dim), region_))));
    }
    return out;
  }
  int calls() const { return calls_; }
  void set_region(std::vector<float> region) { region_ = std::move(region); }

 private:
  std::vector<float> region_;
  int calls_ = 0;
};

// RegionReward's score less `penalty` times a candidate's largest
// similarity to the context (an MMR-like redundancy cost), recording the
// context's size at each call.
class RedundancyReward final : public RewardModel {
 public:
  RedundancyReward(std::vector<float> region, double penalty)
      : region_(std::move(region)), penalty_(penalty) {}
  absl::StatusOr<std::vector<float>> Score(const std::string&, uint32_t,
                                           std::span<const float> c,
                                           std::span<const float> context, uint32_t dim,
                                           uint32_t, uint64_t,
                                           const Cancellation&) override {
    context_rows_.push_back(context.size() / dim);
    std::vector<float> out(c.size() / dim);
    for (size_t i = 0; i < out.size(); ++i) {
      const auto row = c.subspan(i * dim, dim);
      double most = 0;
      for (size_t r = 0; r < context.size() / dim; ++r) {
        most = std::max(most, Dot(row, context.subspan(r * dim, dim)));
      }
      out[i] = static_cast<float>(1 / (1 + std::exp(-8 * Dot(row, region_))) -
                                  penalty_ * most);
    }
    return out;
  }
  const std::vector<size_t>& context_rows() const { return context_rows_; }

 private:
  std::vector<float> region_;
  double penalty_;
  std::vector<size_t> context_rows_;
};

class FailingReward final : public RewardModel {
 public:
  absl::StatusOr<std::vector<float>> Score(const std::string&, uint32_t,
                                           std::span<const float>,
                                           std::span<const float>, uint32_t,
                                           uint32_t, uint64_t,
                                           const Cancellation&) override {
    return absl::UnavailableError("ranker unreachable");
  }
};

v1::ExperimentConfig Config(double alpha) {
  v1::ExperimentConfig c;
  c.set_seed(13);
  c.mutable_space()->set_dim(kDim);
  c.mutable_space()->set_topics(8);
  c.mutable_creators()->set_count(40);
  c.mutable_creators()->set_items_per_round(5);
  c.mutable_generator()->set_alpha(alpha);
  return c;
}

std::vector<float> UnitVector(uint64_t seed) {
  Rng rng(seed);
  std::vector<float> v(kDim);
  for (float& x : v) x = static_cast<float>(rng.Normal());
  Normalize(std::span<float>(v));
  return v;
}

// Mean pairwise cosine distance and mean direction's closeness to `region`.
struct Shape {
  double dispersion;
  double closeness;
};
Shape Measure(const std::vector<v1::Item>& items, std::span<const float> region) {
  double pair_sum = 0;
  int pairs = 0;
  std::vector<double> mean(kDim, 0.0);
  for (size_t i = 0; i < items.size(); ++i) {
    for (uint32_t d = 0; d < kDim; ++d) mean[d] += items[i].embedding(d);
    for (size_t j = i + 1; j < items.size(); ++j) {
      pair_sum += 1 - Dot(AsSpan(items[i].embedding()), AsSpan(items[j].embedding()));
      ++pairs;
    }
  }
  Normalize(std::span<double>(mean));
  double closeness = 0;
  for (uint32_t d = 0; d < kDim; ++d) closeness += mean[d] * region[d];
  return {pair_sum / pairs, closeness};
}

// Engagement as a ranker that favours `region` would produce it.
std::vector<v1::ItemOutcome> Outcomes(const std::vector<v1::Item>& items,
                                      std::span<const float> region) {
  std::vector<v1::ItemOutcome> out;
  for (const auto& item : items) {
    const double a = Dot(AsSpan(item.embedding()), region);
    v1::ItemOutcome o;
    o.set_item_id(item.id());
    o.set_impressions(10);
    o.set_engagements(static_cast<uint32_t>(std::clamp(std::lround(10 * a), 0L, 10L)));
    out.push_back(o);
  }
  return out;
}

// A round's items in wire form, as the service sends them.
absl::StatusOr<std::vector<v1::Item>> Items(
    const Generator& g, absl::StatusOr<std::shared_ptr<const RoundItems>> round) {
  if (!round.ok()) return round.status();
  std::vector<v1::Item> items;
  for (size_t i = 0; i < (*round)->size(); ++i) items.push_back(g.ItemAt(**round, i));
  return items;
}

std::unique_ptr<Generator> Make(const v1::ExperimentConfig& c, RewardModel* r,
                                Generator::Options options = {}) {
  auto g = Generator::Create("run", c, r, options);
  EXPECT_OK(g.status());
  return g.ok() ? *std::move(g) : nullptr;
}

TEST(Generator, UncoupledOutputDoesNotDependOnTheRanker) {
  RegionReward a(UnitVector(1)), b(UnitVector(2));
  FailingReward failing;
  auto ga = Make(Config(0), &a);
  auto gb = Make(Config(0), &b);
  auto gf = Make(Config(0), &failing);
  for (uint32_t round = 0; round < 4; ++round) {
    ASSERT_OK_AND_ASSIGN(auto ia, Items(*ga, ga->Generate(round, nullptr)));
    ASSERT_OK_AND_ASSIGN(auto ib, Items(*gb, gb->Generate(round, nullptr)));
    ASSERT_OK_AND_ASSIGN(auto iff, Items(*gf, gf->Generate(round, nullptr)));
    ASSERT_EQ(ia.size(), 200u);
    for (size_t i = 0; i < ia.size(); ++i) {
      ASSERT_EQ(ia[i].SerializeAsString(), ib[i].SerializeAsString());
      ASSERT_EQ(ia[i].SerializeAsString(), iff[i].SerializeAsString());
    }
    ASSERT_OK(ga->Observe(round, Outcomes(ia, UnitVector(1))));
    ASSERT_OK(gb->Observe(round, Outcomes(ib, UnitVector(2))));
    ASSERT_OK(gf->Observe(round, Outcomes(iff, UnitVector(3))));
  }
  EXPECT_EQ(a.calls() + b.calls(), 0);
  EXPECT_EQ(ga->CreatorDrift(), 0.0);  // creators stay home
}

TEST(Generator, TrendChasingHomogenizesTowardTheFavouredRegion) {
  const std::vector<float> region = UnitVector(77);
  RegionReward reward(region);
  v1::ExperimentConfig free_config = Config(0), coupled_config = Config(1);
  free_config.mutable_generator()->set_creator_policy(v1::GeneratorConfig::TREND_CHASING);
  coupled_config.mutable_generator()->set_creator_policy(v1::GeneratorConfig::TREND_CHASING);
  auto free = Make(free_config, &reward);
  auto coupled = Make(coupled_config, &reward);
  Shape free_shape{}, coupled_shape{};
  for (uint32_t round = 0; round < 6; ++round) {
    ASSERT_OK_AND_ASSIGN(auto fi, Items(*free, free->Generate(round, nullptr)));
    ASSERT_OK_AND_ASSIGN(auto ci, Items(*coupled, coupled->Generate(round, nullptr)));
    free_shape = Measure(fi, region);
    coupled_shape = Measure(ci, region);
    ASSERT_OK(free->Observe(round, Outcomes(fi, region)));
    ASSERT_OK(coupled->Observe(round, Outcomes(ci, region)));
  }
  std::cout << "after 6 rounds: dispersion alpha=0 " << free_shape.dispersion
            << ", alpha=1 " << coupled_shape.dispersion
            << "; closeness to the region alpha=0 " << free_shape.closeness
            << ", alpha=1 " << coupled_shape.closeness << "\n";
  EXPECT_LT(coupled_shape.dispersion, free_shape.dispersion - 0.2);
  EXPECT_GT(coupled_shape.closeness, free_shape.closeness + 0.3);
  EXPECT_GT(coupled->CreatorDrift(), 0.1);
}

// Mean closeness of the creators' centres to `region`.
double CentreCloseness(const Generator& g, uint32_t creators,
                       std::span<const float> region) {
  double sum = 0;
  for (uint32_t c = 0; c < creators; ++c) sum += Dot(g.CreatorCentre(c), region);
  return sum / creators;
}

TEST(Generator, BestResponseClimbsTowardWhatPaysAndStaysHomeUncoupled) {
  const std::vector<float> region = UnitVector(77);
  RegionReward reward(region);
  auto free = Make(Config(0), &reward);
  auto coupled = Make(Config(1), &reward);
  const double before = CentreCloseness(*coupled, 40, region);
  for (uint32_t round = 0; round < 16; ++round) {
    ASSERT_OK_AND_ASSIGN(auto fi, Items(*free, free->Generate(round, nullptr)));
    ASSERT_OK_AND_ASSIGN(auto ci, Items(*coupled, coupled->Generate(round, nullptr)));
    ASSERT_OK(free->Observe(round, Outcomes(fi, region)));
    ASSERT_OK(coupled->Observe(round, Outcomes(ci, region)));
  }
  const double after = CentreCloseness(*coupled, 40, region);
  std::cout << "closeness of centres to the favoured region: " << before << " -> "
            << after << "; drift " << coupled->CreatorDrift() << "\n";
  EXPECT_GT(after, before + 0.3);
  EXPECT_GT(coupled->CreatorDrift(), 0.1);
  // At alpha 0 a best response is to stay with one's own style.
  EXPECT_EQ(free->CreatorDrift(), 0.0);
}

TEST(Generator, ImitatorsMoveTowardBetterPaidNeighbours) {
  // Engagement pays for closeness to `region`: imitating creators drift
  // toward the neighbours nearer it; uncoupled ones stay home. Imitation
  // never asks the reward model for adaptation (selection still does).
  const std::vector<float> region = UnitVector(77);
  RegionReward reward(region);
  v1::ExperimentConfig free_config = Config(0), coupled_config = Config(1);
  for (auto* c : {&free_config, &coupled_config}) {
    c->mutable_generator()->set_creator_policy(v1::GeneratorConfig::IMITATION);
    c->mutable_generator()->set_max_candidates(1);  // adaptation alone
  }
  auto free = Make(free_config, &reward);
  auto coupled = Make(coupled_config, &reward);
  const double before = CentreCloseness(*coupled, 40, region);
  for (uint32_t round = 0; round < 10; ++round) {
    ASSERT_OK_AND_ASSIGN(auto fi, Items(*free, free->Generate(round, nullptr)));
    ASSERT_OK_AND_ASSIGN(auto ci, Items(*coupled, coupled->Generate(round, nullptr)));
    ASSERT_OK(free->Observe(round, Outcomes(fi, region)));
    ASSERT_OK(coupled->Observe(round, Outcomes(ci, region)));
  }
  EXPECT_GT(CentreCloseness(*coupled, 40, region), before + 0.1);
  EXPECT_EQ(free->CreatorDrift(), 0.0);
  EXPECT_EQ(reward.calls(), 0);
}

TEST(Generator, ProductionCostPushesBestRespondersOffGeneralistContent) {
  // With no reward at all (alpha 0) and a cost under the 1-norm of topic
  // projections, content that covers many topics costs more: creators move
  // to cheaper, more specialized directions (fewer topics covered).
  RegionReward reward(UnitVector(5));
  v1::ExperimentConfig c = Config(0);
  c.mutable_generator()->set_cost_weight(2);
  c.mutable_generator()->set_cost_norm(1);
  auto g = Make(c, &reward);
  const model::TopicSpace space = model::TopicSpace::FromConfig(c);
  auto cost = [&](std::span<const float> m) {
    double sum = 0;
    for (uint32_t t = 0; t < space.topics(); ++t) sum += std::max(0.0, Dot(m, space.Centre(t)));
    return sum;
  };
  double before = 0, after = 0;
  for (uint32_t k = 0; k < 40; ++k) before += cost(g->CreatorCentre(k));
  for (uint32_t round = 0; round < 8; ++round) {
    ASSERT_OK_AND_ASSIGN(auto items, Items(*g, g->Generate(round, nullptr)));
    ASSERT_OK(g->Observe(round, Outcomes(items, UnitVector(5))));
  }
  for (uint32_t k = 0; k < 40; ++k) after += cost(g->CreatorCentre(k));
  EXPECT_LT(after, before * 0.9);
  EXPECT_EQ(reward.calls(), 0);
}

TEST(Generator, ARoundsItemsArePricedAgainstTheItemsChosenBeforeThem) {
  // Each creator's j-th item is chosen in wave j, with the items of the
  // waves before it as context: 40 creators x 5 items is 5 calls seeing
  // 0, 40, ... 160 items. A reward that penalizes repeating what is
  // already in the round then makes each creator's items less alike than
  // one that does not; priced alone (no context) they would be the same.
  double spread[2];
  for (int p = 0; p < 2; ++p) {
    RedundancyReward reward(UnitVector(1), p == 0 ? 0.0 : 1.0);
    auto g = Make(Config(1), &reward);
    ASSERT_OK_AND_ASSIGN(auto items, Items(*g, g->Generate(0, nullptr)));
    EXPECT_THAT(reward.context_rows(), ::testing::ElementsAre(0, 40, 80, 120, 160));
    double sum = 0;
    int pairs = 0;
    for (size_t i = 0; i < items.size(); ++i) {
      for (size_t j = i + 1; j < items.size(); ++j) {
        if (items[i].creator_id() != items[j].creator_id()) continue;
        sum += 1 - Dot(AsSpan(items[i].embedding()), AsSpan(items[j].embedding()));
        ++pairs;
      }
    }
    spread[p] = sum / pairs;
  }
  std::cout << "within-creator dispersion: " << spread[0] << " without the penalty, "
            << spread[1] << " with it\n";
  EXPECT_GT(spread[1], spread[0] + 0.02);
}

TEST(Generator, SameSeedSameItemsWhateverThreadsOrChunks) {
  RegionReward reward(UnitVector(5));
  auto config = Config(0.5);
  config.mutable_generator()->set_ai_share(0.3);
  std::vector<std::string> digests;
  for (int trial = 0; trial < 3; ++trial) {
    ThreadPool pool(trial + 1, 0);
    Generator::Options options;
    options.pool = trial == 0 ? nullptr : &pool;
    options.items_per_scoring_chunk = trial == 2 ? 7 : 8192;
    auto g = Make(config, &reward, options);
    std::string digest;
    for (uint32_t round = 0; round < 4; ++round) {
      ASSERT_OK_AND_ASSIGN(auto items, Items(*g, g->Generate(round, nullptr)));
      for (const auto& item : items) digest += item.SerializeAsString();
      ASSERT_OK(g->Observe(round, Outcomes(items, UnitVector(5))));
    }
    digests.push_back(digest);
  }
  EXPECT_EQ(digests[0], digests[1]);
  EXPECT_EQ(digests[0], digests[2]);
}

TEST(Generator, ItemsAreWellFormedAndVolumeGrows) {
  auto config = Config(0);
  config.mutable_generator()->set_volume_growth(1.5);
  config.mutable_generator()->set_ai_share(0.25);
  auto g = Make(config, nullptr);
  ASSERT_OK_AND_ASSIGN(auto r0, Items(*g, g->Generate(0, nullptr)));
  ASSERT_OK(g->Observe(0, {}));
  ASSERT_OK_AND_ASSIGN(auto r1, Items(*g, g->Generate(1, nullptr)));
  EXPECT_EQ(r0.size(), 200u);
  EXPECT_EQ(r1.size(), 300u);
  int platform = 0;
  for (const auto& item : r1) {
    EXPECT_EQ(item.round(), 1u);
    EXPECT_EQ(item.id() >> 32, 1u);
    EXPECT_NEAR(Dot(AsSpan(item.embedding()), AsSpan(item.embedding())), 1.0, 1e-5);
    EXPECT_FALSE(item.title().empty());
    if (item.platform_generated()) {
      ++platform;
      EXPECT_EQ(item.creator_id(), 40u);
    } else {
      EXPECT_LT(item.creator_id(), 40u);
    }
  }
  EXPECT_EQ(platform, 75);
}

TEST(Generator, RejectedCallsChangeNothing) {
  RegionReward reward(UnitVector(9));
  auto good = Make(Config(0.5), &reward);
  auto probed = Make(Config(0.5), &reward);
  ASSERT_OK_AND_ASSIGN(auto items, Items(*good, good->Generate(0, nullptr)));
  ASSERT_OK_AND_ASSIGN(auto same, Items(*probed, probed->Generate(0, nullptr)));
  EXPECT_THAT(probed->Generate(2, nullptr),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("Observe")));
  ASSERT_OK_AND_ASSIGN(auto retry, Items(*probed, probed->Generate(0, nullptr)));  // a retry
  EXPECT_EQ(retry.size(), same.size());

  auto outcomes = Outcomes(items, UnitVector(9));
  auto bad = outcomes;
  bad[3].set_item_id(999);
  EXPECT_THAT(probed->Observe(0, bad),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("outcomes[3].item_id: item 999 is not an item of round 0")));
  bad = outcomes;
  bad[1].set_engagements(11);
  EXPECT_THAT(probed->Observe(0, bad),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("outcomes[1]")));
  bad = outcomes;
  bad[2].set_item_id(bad[0].item_id());
  EXPECT_THAT(probed->Observe(0, bad),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("appears twice")));
  EXPECT_THAT(probed->Observe(1, outcomes),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("round 1")));

  ASSERT_OK(good->Observe(0, outcomes));
  ASSERT_OK(probed->Observe(0, outcomes));
  ASSERT_OK_AND_ASSIGN(auto next_good, Items(*good, good->Generate(1, nullptr)));
  ASSERT_OK_AND_ASSIGN(auto next_probed, Items(*probed, probed->Generate(1, nullptr)));
  for (size_t i = 0; i < next_good.size(); ++i) {
    ASSERT_EQ(next_good[i].SerializeAsString(), next_probed[i].SerializeAsString());
  }
}

// The service resumes a generator from its checkpoint and the round's items
// as the store gives them back, in any order. The restored generator goes
// on exactly as the one that generated them; items that are not the
// round's, or one twice, are refused by name.
TEST(Generator, RestoredFromTheStoredItemsGoesOnTheSame) {
  RegionReward reward(UnitVector(9));
  // Imitation and the platform's refit read the round's items by row.
  v1::ExperimentConfig config = Config(0.5);
  config.mutable_generator()->set_creator_policy(v1::GeneratorConfig::IMITATION);
  config.mutable_generator()->set_ai_share(0.25);
  auto original = Make(config, &reward);
  ASSERT_OK_AND_ASSIGN(auto items, Items(*original, original->Generate(0, nullptr)));
  ASSERT_OK_AND_ASSIGN(v1::GeneratorCheckpoint checkpoint, original->Checkpoint());
  std::vector<v1::Item> stored(items.rbegin(), items.rend());  // any order

  auto restored = Make(config, &reward);
  auto other = stored;
  other[4].set_round(1);
  EXPECT_THAT(restored->Restore(checkpoint, other),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("items[4]")));
  other = stored;
  other[5].set_id(stored[6].id());
  EXPECT_THAT(restored->Restore(checkpoint, other),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("appears twice")));
  other = stored;
  other[7].set_id(uint64_t{items.size()} + 1);  // one past the round's last
  EXPECT_THAT(restored->Restore(checkpoint, other),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("items[7]")));
  ASSERT_OK(restored->Restore(checkpoint, stored));

  const auto outcomes = Outcomes(items, UnitVector(9));
  ASSERT_OK(original->Observe(0, outcomes));
  ASSERT_OK(restored->Observe(0, outcomes));
  ASSERT_OK_AND_ASSIGN(auto next, Items(*original, original->Generate(1, nullptr)));
  ASSERT_OK_AND_ASSIGN(auto again, Items(*restored, restored->Generate(1, nullptr)));
  ASSERT_EQ(next.size(), again.size());
  for (size_t i = 0; i < next.size(); ++i) {
    ASSERT_EQ(next[i].SerializeAsString(), again[i].SerializeAsString()) << i;
  }
}

// Once a round is handed on whole the generator drops its embeddings (it
// need not hold a round of millions while the loop stores and indexes it).
// A retry draws the round again, the same items, and the run goes on as
// if nothing had been dropped; a reward model that changed in between is
// caught rather than giving other items under the same ids.
TEST(Generator, AReleasedRoundIsDrawnAgainTheSame) {
  RegionReward reward(UnitVector(9));
  const v1::ExperimentConfig config = Config(1);  // BEST_RESPONSE, coupled
  auto kept = Make(config, &reward);
  auto released = Make(config, &reward);
  ASSERT_OK_AND_ASSIGN(auto first, Items(*kept, kept->Generate(0, nullptr)));
  ASSERT_OK_AND_ASSIGN(std::shared_ptr<const RoundItems> round,
                       released->Generate(0, nullptr));
  EXPECT_EQ(round.use_count(), 2);  // ours and the generator's
  EXPECT_FALSE(released->Released(0));
  ASSERT_TRUE(released->Release(0));
  EXPECT_EQ(round.use_count(), 1);  // the generator let go of it
  round.reset();
  EXPECT_TRUE(released->Released(0));
  EXPECT_FALSE(released->Release(0));  // once
  ASSERT_OK_AND_ASSIGN(auto again, Items(*released, released->Generate(0, nullptr)));
  EXPECT_FALSE(released->Released(0));
  ASSERT_EQ(again.size(), first.size());
  for (size_t i = 0; i < first.size(); ++i) {
    ASSERT_EQ(again[i].SerializeAsString(), first[i].SerializeAsString()) << i;
  }
  // Released again and observed without its embeddings: the next round is
  // the one the generator that kept everything makes.
  ASSERT_TRUE(released->Release(0));
  const auto outcomes = Outcomes(first, UnitVector(9));
  ASSERT_OK(kept->Observe(0, outcomes));
  ASSERT_OK(released->Observe(0, outcomes));
  ASSERT_OK_AND_ASSIGN(auto next, Items(*kept, kept->Generate(1, nullptr)));
  ASSERT_OK_AND_ASSIGN(auto next_released, Items(*released, released->Generate(1, nullptr)));
  ASSERT_EQ(next.size(), next_released.size());
  for (size_t i = 0; i < next.size(); ++i) {
    ASSERT_EQ(next[i].SerializeAsString(), next_released[i].SerializeAsString()) << i;
  }
  // The ranker moved on between the draw and the retry: refused, not
  // other items under the same ids.
  RegionReward moving(UnitVector(9));
  auto other = Make(config, &moving);
  ASSERT_OK(other->Generate(0, nullptr).status());
  ASSERT_TRUE(other->Release(0));
  moving.set_region(UnitVector(10));
  EXPECT_THAT(other->Generate(0, nullptr).status(),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("differ from the first draw")));
}

// What Observe reads by row stays: the items of TREND_CHASING and of a
// refit platform model are kept.
TEST(Generator, ReleaseKeepsWhatObserveReads) {
  RegionReward reward(UnitVector(9));
  v1::ExperimentConfig trend = Config(1);
  trend.mutable_generator()->set_creator_policy(v1::GeneratorConfig::TREND_CHASING);
  auto g = Make(trend, &reward);
  ASSERT_OK(g->Generate(0, nullptr).status());
  EXPECT_FALSE(g->Release(0));
  v1::ExperimentConfig refit = Config(0.5);
  refit.mutable_generator()->set_ai_share(0.25);
  g = Make(refit, &reward);
  ASSERT_OK(g->Generate(0, nullptr).status());
  EXPECT_FALSE(g->Release(0));
  // Uncoupled, the platform model is not refit: nothing to keep.
  v1::ExperimentConfig uncoupled = Config(0);
  uncoupled.mutable_generator()->set_ai_share(0.25);
  g = Make(uncoupled, &reward);
  ASSERT_OK(g->Generate(0, nullptr).status());
  EXPECT_TRUE(g->Release(0));
  EXPECT_FALSE(g->Release(1));  // not the round just generated
}

// The service gives a released round its items back from the store when
// the store holds all of them: no second draw (the ranker may have indexed
// the round since). Items that are not the whole round are refused.
TEST(Generator, AReleasedRoundIsReloadedFromTheStoredItems) {
  RegionReward reward(UnitVector(9));
  const v1::ExperimentConfig config = Config(1);
  auto g = Make(config, &reward);
  ASSERT_OK_AND_ASSIGN(auto items, Items(*g, g->Generate(0, nullptr)));
  EXPECT_THAT(g->Reload(0, items), StatusIs(absl::StatusCode::kFailedPrecondition,
                                            HasSubstr("not a released round")));
  ASSERT_TRUE(g->Release(0));
  std::vector<v1::Item> stored(items.rbegin(), items.rend());
  auto short_of_one = stored;
  short_of_one.pop_back();
  EXPECT_THAT(g->Reload(0, short_of_one),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("were given")));
  auto foreign = stored;
  foreign[3].set_creator_id(foreign[3].creator_id() + 1);
  EXPECT_THAT(g->Reload(0, foreign), StatusIs(absl::StatusCode::kInvalidArgument,
                                              HasSubstr("not the ones this generator made")));
  ASSERT_OK(g->Reload(0, stored));
  const int calls = reward.calls();
  ASSERT_OK_AND_ASSIGN(auto back, Items(*g, g->Generate(0, nullptr)));
  EXPECT_EQ(reward.calls(), calls);  // not drawn again
  ASSERT_EQ(back.size(), items.size());
  for (size_t i = 0; i < items.size(); ++i) {
    ASSERT_EQ(back[i].SerializeAsString(), items[i].SerializeAsString()) << i;
  }
}

TEST(Generator, CoupledGenerationFailsWhenTheRankerIsUnreachable) {
  FailingReward failing;
  auto g = Make(Config(0.5), &failing);
  EXPECT_THAT(g->Generate(0, nullptr),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("unreachable")));
  EXPECT_EQ(g->state().next_round(), 0u);
  EXPECT_THAT(Generator::Create("r", Config(0.5), nullptr, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("generator.alpha")));
  auto bad = Config(1.5);
  EXPECT_THAT(Generator::Create("r", bad, &failing, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("generator.alpha")));
  bad = Config(0);
  bad.mutable_creators()->set_count(0);
  EXPECT_THAT(Generator::Create("r", bad, &failing, {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("creators.count")));
}

// Share of samples farther from their nearest component mean than
// `threshold` (cosine distance).
double TailMass(const PlatformModel& m, double threshold, uint64_t seed,
                const std::vector<float>& reference_means) {
  Rng rng(seed);
  std::vector<float> e(kDim);
  int far = 0;
  const int n = 4000;
  const size_t k_count = reference_means.size() / kDim;
  for (int i = 0; i < n; ++i) {
    m.Sample(rng, e);
    double best = -2;
    for (size_t k = 0; k < k_count; ++k) {
      best = std::max(best, Dot(e, std::span<const float>(&reference_means[k * kDim], kDim)));
    }
    far += (1 - best) > threshold;
  }
  return static_cast<double>(far) / n;
}

TEST(PlatformModel, RefitOnNarrowEngagementLosesTailMass) {
  // Sixteen components; engagement only for samples close to component 0.
  std::vector<float> means;
  for (int k = 0; k < 16; ++k) {
    auto v = UnitVector(100 + k);
    means.insert(means.end(), v.begin(), v.end());
  }
  PlatformModel model(kDim, means, 0.6);
  // Round 0's 90th percentile of distance to the nearest component.
  Rng rng(1);
  std::vector<double> distances;
  std::vector<float> e(kDim);
  for (int i = 0; i < 4000; ++i) {
    model.Sample(rng, e);
    double best = -2;
    for (int k = 0; k < 16; ++k) best = std::max(best, Dot(e, std::span<const float>(&means[k * kDim], kDim)));
    distances.push_back(1 - best);
  }
  std::sort(distances.begin(), distances.end());
  const double p90 = distances[distances.size() * 9 / 10];

  std::vector<double> tail;
  tail.push_back(TailMass(model, p90, 2, means));
  for (int round = 0; round < 8; ++round) {
    std::vector<float> rows;
    std::vector<double> weights;
    Rng draw(10 + round);
    for (int i = 0; i < 2000; ++i) {
      model.Sample(draw, e);
      rows.insert(rows.end(), e.begin(), e.end());
      // Engaged: near component 0's original mean only.
      weights.push_back(Dot(e, std::span<const float>(&means[0], kDim)) > 0.85 ? 1.0 : 0.0);
    }
    model.Refit(rows, weights, 0.5);
    tail.push_back(TailMass(model, p90, 3 + round, means));
  }
  std::cout << "tail mass by round:";
  for (double t : tail) std::cout << " " << t;
  std::cout << "; effective components " << model.EffectiveComponents() << "\n";
  EXPECT_NEAR(tail[0], 0.10, 0.03);
  for (size_t r = 2; r < tail.size(); ++r) EXPECT_LE(tail[r], tail[r - 2]);
  EXPECT_LT(tail.back(), tail.front() / 3);
  EXPECT_LT(model.EffectiveComponents(), 3.0);
}

}  // namespace
}  // namespace feedloop::generator
