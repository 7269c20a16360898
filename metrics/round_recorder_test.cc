// Known-truth tests of the round metrics: scenarios built by hand where the
// right answer is known, and for the definitions the first wave got wrong,
// a scenario where that plausible wrong definition gives the wrong sign.

#include "metrics/round_recorder.h"

#include <cmath>
#include <map>

#include "common/random.h"
#include "gtest/gtest.h"
#include "metrics/catalog.h"
#include "metrics/diversity.h"

namespace feedloop::metrics {
namespace {

constexpr uint32_t kDim = 4;

std::vector<float> Unit(std::initializer_list<float> v) {
  std::vector<float> out(v);
  double n = 0;
  for (float x : out) n += double{x} * x;
  for (float& x : out) x = static_cast<float>(x / std::sqrt(n));
  return out;
}

v1::ExperimentConfig Config(uint32_t users, uint32_t creators = 4, uint32_t ttl = 5,
                            uint32_t attention = 3) {
  v1::ExperimentConfig c;
  c.set_seed(17);
  c.mutable_space()->set_dim(kDim);
  c.mutable_space()->set_topics(2);
  c.mutable_users()->set_count(users);
  c.mutable_users()->set_attention(attention);
  c.mutable_creators()->set_count(creators);
  c.mutable_ranker()->set_item_ttl_rounds(ttl);
  return c;
}

v1::Item Item(uint64_t id, uint32_t round, const std::vector<float>& e,
              uint32_t creator = 0, bool platform = false) {
  v1::Item item;
  item.set_id(id);
  item.set_round(round);
  item.set_creator_id(creator);
  item.set_platform_generated(platform);
  item.mutable_embedding()->Assign(e.begin(), e.end());
  return item;
}

// One user's round: the slate, and how many of its first positions were
// examined with which engaged.
struct UserRound {
  uint32_t user;
  std::vector<uint64_t> slate;
  std::vector<bool> engaged;  // one per examined position, from the top
};

// Drives a recorder round by round, the way the loop does.
class Scenario {
 public:
  explicit Scenario(const v1::ExperimentConfig& config)
      : config_(config), recorder_(config),
        interests_(size_t{config.users().count()} * kDim, 0.0f) {
    for (uint32_t u = 0; u < config.users().count(); ++u) interests_[u * kDim] = 1;
  }
  void SetInterest(uint32_t user, const std::vector<float>& p) {
    std::copy(p.begin(), p.end(), interests_.begin() + size_t{user} * kDim);
  }
  // The round's items, in parts of `chunk` (all at once when 0).
  void Add(uint32_t round, const std::vector<v1::Item>& items, size_t chunk = 0) {
    const std::span<const v1::Item> all(items);
    if (chunk == 0) chunk = std::max<size_t>(1, items.size());
    for (size_t first = 0; first < items.size(); first += chunk) {
      recorder_.AddItems(round, all.subspan(first, std::min(chunk, items.size() - first)));
    }
    recorder_.EndItems(round);
  }
  // Measures the round; users not named get an empty slate.
  std::map<std::string, v1::MetricValue> Play(uint32_t round,
                                              const std::vector<UserRound>& did) {
    const uint32_t n = config_.users().count();
    std::vector<v1::Slate> slates(n);
    std::vector<model::Consumption> consumption(n);
    for (uint32_t u = 0; u < n; ++u) slates[u].set_user_id(u);
    for (const UserRound& r : did) {
      for (uint64_t id : r.slate) slates[r.user].add_item_ids(id);
      for (size_t k = 0; k < r.engaged.size(); ++k) {
        consumption[r.user].positions.push_back(static_cast<uint32_t>(k));
        consumption[r.user].engaged.push_back(r.engaged[k]);
      }
    }
    const std::vector<v1::Interaction> interactions =
        model::InteractionsOf(slates, consumption);
    recorder_.Record(round, interactions);
    RoundRecorder::Observed o;
    o.round = round;
    o.slates = slates;
    o.interactions = interactions;
    o.interests = interests_;
    o.creator_drift = 0.25;
    o.interest_drift = 0.125;
    std::map<std::string, v1::MetricValue> out;
    last_names_.clear();
    for (v1::MetricValue& v : recorder_.Measure(o)) {
      last_names_.push_back(v.name());
      out[v.name()] = std::move(v);
    }
    recorder_.RetireExpired(round);
    return out;
  }
  const std::vector<std::string>& last_names() const { return last_names_; }

 private:
  v1::ExperimentConfig config_;
  RoundRecorder recorder_;
  std::vector<float> interests_;
  std::vector<std::string> last_names_;
};

double Value(const std::map<std::string, v1::MetricValue>& m, const std::string& name) {
  auto it = m.find(name);
  EXPECT_NE(it, m.end()) << name;
  if (it == m.end()) return NAN;
  EXPECT_TRUE(it->second.absent().empty()) << name << ": " << it->second.absent();
  return it->second.value();
}

std::string Absent(const std::map<std::string, v1::MetricValue>& m,
                   const std::string& name) {
  auto it = m.find(name);
  EXPECT_NE(it, m.end()) << name;
  if (it == m.end()) return "";
  EXPECT_FALSE(it->second.absent().empty()) << name << " = " << it->second.value();
  return it->second.absent();
}

// N distinct items of round 0, each along a different (random) direction.
std::vector<v1::Item> Items(size_t n, uint32_t round = 0, uint64_t seed = 1) {
  Rng rng(seed);
  std::vector<v1::Item> items;
  for (size_t i = 0; i < n; ++i) {
    std::vector<float> e(kDim);
    for (float& x : e) x = static_cast<float>(rng.Normal());
    items.push_back(Item((uint64_t{round} << 32) | (i + 1), round,
                         Unit({e[0], e[1], e[2], e[3]}),
                         static_cast<uint32_t>(i % 4)));
  }
  return items;
}

uint64_t Id(uint32_t round, size_t i) { return (uint64_t{round} << 32) | (i + 1); }

// ------------------------------------------------------------- the catalog

TEST(RoundRecorder, EmitsEveryCatalogMetricInCatalogOrder) {
  Scenario s(Config(4));
  s.Add(0, Items(40));
  s.Play(0, {{0, {Id(0, 0), Id(0, 1)}, {true, false}}});
  std::vector<std::string> catalog;
  for (const MetricInfo& m : MetricCatalog()) catalog.emplace_back(m.name);
  EXPECT_EQ(s.last_names(), catalog);
}

// --------------------------------------------------------------- exposure

TEST(RoundRecorder, UniformExposureVersusAllImpressionsOnOneItem) {
  {
    Scenario s(Config(10));
    s.Add(0, Items(10));
    std::vector<UserRound> did;
    for (uint32_t u = 0; u < 10; ++u) did.push_back({u, {Id(0, u)}, {false}});
    const auto m = s.Play(0, did);
    EXPECT_DOUBLE_EQ(Value(m, "exposure.coverage"), 1.0);
    EXPECT_DOUBLE_EQ(Value(m, "exposure.gini_shown"), 0.0);
    EXPECT_DOUBLE_EQ(Value(m, "exposure.top1pct_share"), 0.1);
  }
  {
    Scenario s(Config(10));
    s.Add(0, Items(10));
    std::vector<UserRound> did;
    for (uint32_t u = 0; u < 10; ++u) did.push_back({u, {Id(0, 3)}, {false}});
    const auto m = s.Play(0, did);
    EXPECT_DOUBLE_EQ(Value(m, "exposure.coverage"), 0.1);
    EXPECT_DOUBLE_EQ(Value(m, "exposure.top1pct_share"), 1.0);
    // Inequality among one shown item is not "perfect equality".
    EXPECT_NE(Absent(m, "exposure.gini_shown").find("fewer than two"), std::string::npos);
  }
}

TEST(RoundRecorder, ConcentrationAmongShownItemsIsApartFromCoverage) {
  // A: a random ranker over a large catalog: 100 impressions, each on a
  // random one of 1,000 live items. Nothing is concentrated.
  Scenario a(Config(100));
  a.Add(0, Items(1000));
  Rng rng(4);
  std::vector<UserRound> did_a;
  std::map<uint64_t, double> imp_a;
  for (uint32_t u = 0; u < 100; ++u) {
    const uint64_t id = Id(0, rng.UniformInt(1000));
    did_a.push_back({u, {id}, {false}});
    imp_a[id] += 1;
  }
  const auto ma = a.Play(0, did_a);
  // B: 20 live items, all shown, with impressions ~ 60 / rank: a
  // popularity ranker's skew.
  Scenario b(Config(300));
  b.Add(0, Items(20));
  std::vector<UserRound> did_b;
  std::vector<double> imp_b;
  uint32_t user = 0;
  for (size_t i = 0; i < 20; ++i) {
    const int n = std::max(1, static_cast<int>(std::lround(60.0 / (i + 1))));
    imp_b.push_back(n);
    for (int k = 0; k < n; ++k) did_b.push_back({user++, {Id(0, i)}, {false}});
  }
  ASSERT_LE(user, 300u);
  const auto mb = b.Play(0, did_b);
  EXPECT_LT(Value(ma, "exposure.gini_shown"), 0.1);
  EXPECT_GT(Value(mb, "exposure.gini_shown"), 0.4);
  EXPECT_NEAR(Value(ma, "exposure.coverage"), 0.095, 0.02);
  EXPECT_DOUBLE_EQ(Value(mb, "exposure.coverage"), 1.0);
  // The first wave's Gini over all live items (unshown items as zeros)
  // ranks them the other way round: it measured coverage.
  std::vector<double> all_a(1000 - imp_a.size(), 0.0);
  for (const auto& [id, n] : imp_a) all_a.push_back(n);
  EXPECT_GT(Gini(all_a), 0.9);
  EXPECT_GT(Gini(all_a), Gini(imp_b));
}

TEST(RoundRecorder, RandomRankerExposureIsNearlyEqualAmongShownItems) {
  // 500 users, each examining a slate of 10 distinct random live items out
  // of 200: impressions per item ~ Poisson(25), whose Gini is about
  // sd / (mean sqrt(pi)) = 0.11.
  Scenario s(Config(500));
  s.Add(0, Items(200));
  Rng rng(6);
  std::vector<UserRound> did;
  for (uint32_t u = 0; u < 500; ++u) {
    UserRound r{u, {}, std::vector<bool>(10, false)};
    for (uint64_t pick : rng.SampleWithoutReplacement(200, 10)) r.slate.push_back(Id(0, pick));
    did.push_back(r);
  }
  const auto m = s.Play(0, did);
  EXPECT_NEAR(Value(m, "exposure.gini_shown"), 0.11, 0.04);
  EXPECT_DOUBLE_EQ(Value(m, "exposure.coverage"), 1.0);
  EXPECT_LT(Value(m, "exposure.top1pct_share"), 0.03);
}

TEST(RoundRecorder, CreatorExposure) {
  // Four creators, one impression each: equal.
  {
    Scenario s(Config(4, /*creators=*/4));
    s.Add(0, Items(8));  // creator = index % 4
    std::vector<UserRound> did;
    for (uint32_t u = 0; u < 4; ++u) did.push_back({u, {Id(0, u)}, {false}});
    const auto m = s.Play(0, did);
    EXPECT_DOUBLE_EQ(Value(m, "exposure.gini_creators"), 0.0);
    EXPECT_DOUBLE_EQ(Value(m, "exposure.entropy_creators"), 1.0);
    EXPECT_DOUBLE_EQ(Value(m, "exposure.ai_share"), 0.0);
  }
  // Every impression on creator 0: as unequal as four creators can be.
  {
    Scenario s(Config(4, 4));
    s.Add(0, Items(8));
    std::vector<UserRound> did;
    for (uint32_t u = 0; u < 4; ++u) did.push_back({u, {Id(0, 4)}, {false}});
    const auto m = s.Play(0, did);
    EXPECT_DOUBLE_EQ(Value(m, "exposure.gini_creators"), 0.75);
    EXPECT_DOUBLE_EQ(Value(m, "exposure.entropy_creators"), 0.0);
  }
  // Every impression on platform items: creators got nothing, which is not
  // perfect equality among them.
  {
    Scenario s(Config(4, 4));
    std::vector<v1::Item> items = {Item(Id(0, 0), 0, Unit({1, 0, 0, 0}), 4, true),
                                   Item(Id(0, 1), 0, Unit({0, 1, 0, 0}), 4, true),
                                   Item(Id(0, 2), 0, Unit({0, 0, 1, 0}), 1)};
    s.Add(0, items);
    std::vector<UserRound> did;
    for (uint32_t u = 0; u < 4; ++u) did.push_back({u, {Id(0, u % 2)}, {false}});
    const auto m = s.Play(0, did);
    EXPECT_DOUBLE_EQ(Value(m, "exposure.ai_share"), 1.0);
    EXPECT_NE(Absent(m, "exposure.gini_creators").find("creator"), std::string::npos);
    Absent(m, "exposure.entropy_creators");
  }
}

TEST(RoundRecorder, SlateIntraListDiversity) {
  Scenario s(Config(3));
  s.Add(0, {Item(Id(0, 0), 0, Unit({1, 0, 0, 0})), Item(Id(0, 1), 0, Unit({0, 1, 0, 0})),
            Item(Id(0, 2), 0, Unit({1, 0, 0, 0}))});
  // User 0: two orthogonal items (ILD 1); user 1: two copies of one
  // direction (ILD 0); user 2: one item (no pair, not counted).
  const auto m = s.Play(0, {{0, {Id(0, 0), Id(0, 1)}, {}},
                            {1, {Id(0, 0), Id(0, 2)}, {}},
                            {2, {Id(0, 1)}, {}}});
  EXPECT_NEAR(Value(m, "slate.ild"), 0.5, 1e-6);
  Scenario single(Config(2));
  single.Add(0, Items(3));
  Absent(single.Play(0, {{0, {Id(0, 0)}, {true}}}), "slate.ild");
}

// ------------------------------------------------------------ consumption

TEST(RoundRecorder, NearIdenticalItemsWithDifferentIdsAreHomogeneousConsumption) {
  // Two users engage two items that are the same content under different
  // ids: id-based Jaccard sees nothing shared, content similarity sees
  // that they consumed the same thing.
  Scenario same(Config(2));
  same.Add(0, {Item(Id(0, 0), 0, Unit({1, 0.01f, 0, 0})),
               Item(Id(0, 1), 0, Unit({1, 0, 0.01f, 0}))});
  const auto m = same.Play(0, {{0, {Id(0, 0)}, {true}}, {1, {Id(0, 1)}, {true}}});
  EXPECT_DOUBLE_EQ(Value(m, "consumption.jaccard"), 0.0);
  EXPECT_GT(Value(m, "consumption.similarity"), 0.999);
  // Against two users engaging orthogonal content: similarity 0.
  Scenario apart(Config(2));
  apart.Add(0, {Item(Id(0, 0), 0, Unit({1, 0, 0, 0})), Item(Id(0, 1), 0, Unit({0, 1, 0, 0}))});
  const auto d = apart.Play(0, {{0, {Id(0, 0)}, {true}}, {1, {Id(0, 1)}, {true}}});
  EXPECT_NEAR(Value(d, "consumption.similarity"), 0.0, 1e-9);
  EXPECT_GT(Value(m, "consumption.similarity"), Value(d, "consumption.similarity") + 0.9);
}

TEST(RoundRecorder, EmptyConsumptionIsAbsentNotZero) {
  // Everyone examines a slate and engages nothing.
  Scenario s(Config(4));
  s.Add(0, Items(10));
  std::vector<UserRound> did;
  for (uint32_t u = 0; u < 4; ++u) did.push_back({u, {Id(0, u)}, {false}});
  const auto m = s.Play(0, did);
  Absent(m, "consumption.jaccard");
  Absent(m, "consumption.similarity");
  Absent(m, "consumption.engaged_affinity");
  Absent(m, "lifecycle.items_per_engagement");
  EXPECT_DOUBLE_EQ(Value(m, "consumption.idle_users"), 1.0);
  EXPECT_DOUBLE_EQ(Value(m, "consumption.welfare"), 0.0);
  EXPECT_DOUBLE_EQ(Value(m, "consumption.engagement_rate"), 0.0);
  EXPECT_DOUBLE_EQ(Value(m, "consumption.underserved"), 1.0);
}

TEST(RoundRecorder, JaccardLeavesIdleUsersOutWhereCountingThemGivesTheWrongSign) {
  // A (a popularity ranker): 3 of 10 users engage the one item everyone is
  // shown, 7 engage nothing. Everyone who consumed, consumed the same.
  Scenario a(Config(10));
  a.Add(0, Items(10));
  std::vector<UserRound> did_a;
  for (uint32_t u = 0; u < 10; ++u) did_a.push_back({u, {Id(0, 0)}, {u < 3}});
  const auto ma = a.Play(0, did_a);
  // B (personalized): every user engages; users 2k and 2k+1 share an item,
  // no one else does.
  Scenario b(Config(10));
  b.Add(0, Items(10));
  std::vector<UserRound> did_b;
  for (uint32_t u = 0; u < 10; ++u) did_b.push_back({u, {Id(0, u / 2)}, {true}});
  const auto mb = b.Play(0, did_b);
  EXPECT_DOUBLE_EQ(Value(ma, "consumption.jaccard"), 1.0);
  EXPECT_NEAR(Value(mb, "consumption.jaccard"), 1.0 / 9, 0.04);
  EXPECT_DOUBLE_EQ(Value(ma, "consumption.idle_users"), 0.7);
  EXPECT_DOUBLE_EQ(Value(mb, "consumption.idle_users"), 0.0);
  // The first wave's definition, exactly over all 45 pairs with empty
  // pairs scored 0: A 3/45, B 5/45 -- B reads as the more homogeneous.
  const double old_a = 3.0 / 45, old_b = 5.0 / 45;
  EXPECT_LT(old_a, old_b);
  EXPECT_GT(Value(ma, "consumption.jaccard"), Value(mb, "consumption.jaccard"));
}

TEST(RoundRecorder, WelfareCountsUsersWhoGotNothing) {
  // p_u = e0 for every user. A (a random ranker): one user engages an item
  // of affinity 0.9, the nine others engage nothing. B: every user engages
  // three items of affinity 0.6.
  const std::vector<float> good = Unit({0.9f, std::sqrt(1 - 0.81f), 0, 0});
  const std::vector<float> fair = Unit({0.6f, 0.8f, 0, 0});
  Scenario a(Config(10));
  a.Add(0, {Item(Id(0, 0), 0, good), Item(Id(0, 1), 0, Unit({0, 1, 0, 0}))});
  std::vector<UserRound> did_a = {{0, {Id(0, 0)}, {true}}};
  for (uint32_t u = 1; u < 10; ++u) did_a.push_back({u, {Id(0, 1)}, {false}});
  const auto ma = a.Play(0, did_a);
  Scenario b(Config(10));
  b.Add(0, {Item(Id(0, 0), 0, fair), Item(Id(0, 1), 0, fair), Item(Id(0, 2), 0, fair)});
  std::vector<UserRound> did_b;
  for (uint32_t u = 0; u < 10; ++u) {
    did_b.push_back({u, {Id(0, 0), Id(0, 1), Id(0, 2)}, {true, true, true}});
  }
  const auto mb = b.Play(0, did_b);
  EXPECT_NEAR(Value(ma, "consumption.welfare"), 0.9 / 3 / 10, 1e-6);
  EXPECT_NEAR(Value(mb, "consumption.welfare"), 0.6, 1e-6);
  EXPECT_NEAR(Value(ma, "consumption.underserved"), 0.9, 1e-12);
  EXPECT_NEAR(Value(mb, "consumption.underserved"), 0.0, 1e-12);
  // Affinity conditional on engagement (the first wave's "utility") ranks
  // them the other way round.
  EXPECT_NEAR(Value(ma, "consumption.engaged_affinity"), 0.9, 1e-6);
  EXPECT_NEAR(Value(mb, "consumption.engaged_affinity"), 0.6, 1e-6);
  EXPECT_GT(Value(mb, "consumption.welfare"), Value(ma, "consumption.welfare"));
}

TEST(RoundRecorder, ConsumptionWindowPoolsRoundsAndOutlivesItems) {
  // ttl 1: every item expires in its own round, but what users engaged
  // stays in the window (W = 2) for similarity.
  v1::ExperimentConfig c = Config(2, 4, /*ttl=*/1);
  c.mutable_metrics()->set_jaccard_window(2);
  Scenario s(c);
  s.Add(0, {Item(Id(0, 0), 0, Unit({1, 0, 0, 0})), Item(Id(0, 1), 0, Unit({0, 1, 0, 0}))});
  s.Play(0, {{0, {Id(0, 0)}, {true}}, {1, {Id(0, 1)}, {true}}});
  s.Add(1, {Item(Id(1, 0), 1, Unit({0, 1, 0, 0}))});
  // Round 1: user 0 also engages the {0,1,0,0} item, user 1 nothing.
  const auto m = s.Play(1, {{0, {Id(1, 0)}, {true}}, {1, {Id(1, 0)}, {false}}});
  // User 0's window: e0, e1 (mean (0.5, 0.5)); user 1's: e1.
  EXPECT_NEAR(Value(m, "consumption.similarity"), 0.5, 1e-6);
  EXPECT_DOUBLE_EQ(Value(m, "consumption.jaccard"), 0.0);
  EXPECT_DOUBLE_EQ(Value(m, "consumption.idle_users"), 0.0);
}

// -------------------------------------------------------------- lifecycle

TEST(RoundRecorder, LifetimesAreADistributionNotAnUnweightedMedian) {
  // ttl 3: round 0's items expire in round 2. Item A is shown in every
  // round, three times each; B, C, D once in round 0 only; E never.
  Scenario s(Config(3, 4, /*ttl=*/3));
  s.Add(0, Items(5));
  const uint64_t a = Id(0, 0);
  auto m0 = s.Play(0, {{0, {a, Id(0, 1)}, {false, false}},
                       {1, {a, Id(0, 2)}, {false, false}},
                       {2, {a, Id(0, 3)}, {false, false}}});
  EXPECT_NE(Absent(m0, "lifecycle.never_seen").find("expires"), std::string::npos);
  Absent(m0, "lifecycle.attention_halflife");
  s.Add(1, Items(1, 1));
  s.Play(1, {{0, {a}, {false}}, {1, {a}, {false}}, {2, {a}, {false}}});
  s.Add(2, Items(1, 2));
  const auto m = s.Play(2, {{0, {a}, {false}}, {1, {a}, {false}}, {2, {a}, {false}}});
  EXPECT_DOUBLE_EQ(Value(m, "lifecycle.never_seen"), 0.2);
  EXPECT_DOUBLE_EQ(Value(m, "lifecycle.one_round_share"), 0.75);
  EXPECT_DOUBLE_EQ(Value(m, "lifecycle.impressions_per_item"), (9.0 + 3) / 4);
  // A held attention three rounds evenly: half-life 1.5 (half of its 9
  // impressions by mid-round 1); B, C, D had all theirs in round 0: 0.5.
  // Weighted by impressions: (9 * 1.5 + 3 * 0.5) / 12.
  EXPECT_DOUBLE_EQ(Value(m, "lifecycle.attention_halflife"), (9 * 1.5 + 3 * 0.5) / 12);
  // The first wave's unweighted median of lifetimes (0, 0, 0, 2) reads 0.
  EXPECT_EQ(Quantile({2, 0, 0, 0}, 0.5), 0);
}

TEST(RoundRecorder, AttentionMovingToNewerItemsShortensTheHalfLife) {
  // ttl 2, 4 users. Slow: round 0's items get all attention in both of
  // their rounds. Fast: in round 1 everyone watches round 1's new items.
  auto play = [](bool fast) {
    Scenario s(Config(4, 4, /*ttl=*/2));
    s.Add(0, Items(4));
    std::vector<UserRound> r0;
    for (uint32_t u = 0; u < 4; ++u) r0.push_back({u, {Id(0, u)}, {true}});
    s.Play(0, r0);
    s.Add(1, Items(4, 1));
    std::vector<UserRound> r1;
    for (uint32_t u = 0; u < 4; ++u) {
      r1.push_back({u, {fast ? Id(1, u) : Id(0, (u + 1) % 4)}, {true}});
    }
    return s.Play(1, r1);
  };
  const auto slow = play(false), fast = play(true);
  EXPECT_DOUBLE_EQ(Value(slow, "lifecycle.attention_halflife"), 1.0);
  EXPECT_DOUBLE_EQ(Value(fast, "lifecycle.attention_halflife"), 0.5);
  EXPECT_DOUBLE_EQ(Value(slow, "lifecycle.one_round_share"), 0.0);
  EXPECT_DOUBLE_EQ(Value(fast, "lifecycle.one_round_share"), 1.0);
}

TEST(RoundRecorder, MoreItemsForTheSameAttentionMeansFewerImpressionsEach) {
  // 10 users, one impression each, ttl 1; 5 items against 20 items.
  auto play = [](size_t items) {
    Scenario s(Config(10, 4, /*ttl=*/1));
    s.Add(0, Items(items));
    std::vector<UserRound> did;
    for (uint32_t u = 0; u < 10; ++u) did.push_back({u, {Id(0, u % items)}, {true}});
    return s.Play(0, did);
  };
  const auto few = play(5), many = play(20);
  EXPECT_DOUBLE_EQ(Value(few, "lifecycle.impressions_per_item"), 2.0);
  EXPECT_DOUBLE_EQ(Value(many, "lifecycle.impressions_per_item"), 1.0);
  EXPECT_DOUBLE_EQ(Value(few, "lifecycle.never_seen"), 0.0);
  EXPECT_DOUBLE_EQ(Value(many, "lifecycle.never_seen"), 0.5);
  EXPECT_DOUBLE_EQ(Value(few, "lifecycle.items_per_engagement"), 0.5);
  EXPECT_DOUBLE_EQ(Value(many, "lifecycle.items_per_engagement"), 2.0);
}

// ---------------------------------------------------------------- content

TEST(RoundRecorder, ContentMetricsAndTheirUndefinedCases) {
  // One new item: no pairs, and round 0 is too small for a tail reference.
  Scenario s(Config(1));
  s.Add(0, Items(1));
  const auto m = s.Play(0, {{0, {Id(0, 0)}, {true}}});
  Absent(m, "content.dispersion");
  EXPECT_DOUBLE_EQ(Value(m, "content.vendi"), 1.0);
  EXPECT_NE(Absent(m, "content.tail_recall").find("has 1 items"), std::string::npos);
  EXPECT_DOUBLE_EQ(Value(m, "content.topic_entropy"), 0.0);
  EXPECT_DOUBLE_EQ(Value(m, "creators.drift"), 0.25);
  EXPECT_DOUBLE_EQ(Value(m, "users.interest_drift"), 0.125);
  // One topic: an entropy over one category means nothing.
  v1::ExperimentConfig one = Config(1);
  one.mutable_space()->set_topics(1);
  Scenario t(one);
  t.Add(0, Items(200));
  const auto mt = t.Play(0, {{0, {Id(0, 0)}, {true}}});
  Absent(mt, "content.topic_entropy");
  EXPECT_GT(Value(mt, "content.tail_recall"), 0.3);
}

TEST(RoundRecorder, CreatorDispersionIsWithinCreatorsWherePooledDispersionGivesTheWrongSign) {
  const std::vector<float> e[4] = {Unit({1, 0, 0, 0}), Unit({0, 1, 0, 0}),
                                   Unit({0, 0, 1, 0}), Unit({0, 0, 0, 1})};
  // A: four creators who each vary their output the same way (e0 and e1),
  // and a platform item, which belongs to no creator.
  Scenario a(Config(1));
  std::vector<v1::Item> alike;
  for (uint32_t c = 0; c < 4; ++c) {
    alike.push_back(Item(Id(0, 2 * c), 0, e[0], c));
    alike.push_back(Item(Id(0, 2 * c + 1), 0, e[1], c));
  }
  alike.push_back(Item(Id(0, 8), 0, e[2], 0, /*platform=*/true));
  a.Add(0, alike);
  const auto ma = a.Play(0, {});
  // B: four creators who each repeat one direction, a different one each.
  Scenario b(Config(1));
  std::vector<v1::Item> repeat;
  for (uint32_t c = 0; c < 4; ++c) {
    repeat.push_back(Item(Id(0, 2 * c), 0, e[c], c));
    repeat.push_back(Item(Id(0, 2 * c + 1), 0, e[c], c));
  }
  b.Add(0, repeat);
  const auto mb = b.Play(0, {});
  // Each creator's two items are orthogonal in A (distance 1) and the same
  // in B (distance 0).
  EXPECT_DOUBLE_EQ(Value(ma, "content.creator_dispersion"), 1.0);
  EXPECT_DOUBLE_EQ(Value(mb, "content.creator_dispersion"), 0.0);
  // Pooling every item (content.dispersion) reads the other way round:
  // 20 of A's 36 pairs differ (0.56), 24 of B's 28 (0.86).
  EXPECT_LT(Value(ma, "content.dispersion"), Value(mb, "content.dispersion"));
  // One item per creator: no creator has a pair.
  Scenario c(Config(1));
  c.Add(0, {Item(Id(0, 0), 0, e[0], 0), Item(Id(0, 1), 0, e[1], 1)});
  EXPECT_NE(Absent(c.Play(0, {}), "content.creator_dispersion").find("no creator made two"),
            std::string::npos);
}

TEST(RoundRecorder, SameInputsSameValues) {
  auto run = [] {
    Scenario s(Config(20));
    s.Add(0, Items(100));
    std::vector<UserRound> did;
    for (uint32_t u = 0; u < 20; ++u) {
      did.push_back({u, {Id(0, u), Id(0, u + 20), Id(0, u + 40)}, {u % 2 == 0, true}});
    }
    return s.Play(0, did);
  };
  const auto a = run(), b = run();
  for (const auto& [name, v] : a) {
    EXPECT_EQ(v.SerializeAsString(), b.at(name).SerializeAsString()) << name;
  }
}

// The loop adds a round's items a chunk at a time as the generator streams
// them; the recorder keeps them in one block of rows per round and drops
// the block when the round's items expire. Over rounds in which items
// expire (ttl 2), with the window reaching engaged items that expired, the
// values are the same whatever the chunks, and the same as one call each.
TEST(RoundRecorder, ChunkedItemsGiveTheSameValuesAsOneCallPerRound) {
  auto run = [](size_t chunk) {
    Scenario s(Config(20, 4, /*ttl=*/2));
    std::vector<std::map<std::string, v1::MetricValue>> rounds;
    for (uint32_t r = 0; r < 4; ++r) {
      s.Add(r, Items(60, r, 10 + r), chunk);
      std::vector<UserRound> did;
      for (uint32_t u = 0; u < 20; ++u) {
        // Items of this round and of the one before (still live at ttl 2).
        const uint32_t older = r == 0 ? 0 : r - 1;
        did.push_back({u, {Id(r, u), Id(older, u + 20), Id(r, u + 40)}, {true, u % 3 == 0}});
      }
      rounds.push_back(s.Play(r, did));
    }
    return rounds;
  };
  const auto whole = run(0);
  for (size_t chunk : {1, 7, 59}) {
    const auto parts = run(chunk);
    ASSERT_EQ(parts.size(), whole.size());
    for (size_t r = 0; r < whole.size(); ++r) {
      ASSERT_EQ(parts[r].size(), whole[r].size());
      for (const auto& [name, v] : whole[r]) {
        EXPECT_EQ(v.SerializeAsString(), parts[r].at(name).SerializeAsString())
            << "chunk " << chunk << " round " << r << " " << name;
      }
    }
  }
}

}  // namespace
}  // namespace feedloop::metrics
