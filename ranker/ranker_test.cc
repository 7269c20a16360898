#include "ranker/ranker.h"
#include "ranker/item_pool.h"

#include <cmath>
#include <thread>

#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "common/random.h"
#include "common/vectors.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"

namespace feedloop::ranker {
namespace {

using ::feedloop::testing::StatusIs;
using ::google::protobuf::RepeatedPtrField;
using ::testing::HasSubstr;

constexpr uint32_t kDim = 16;
constexpr uint32_t kUsers = 200;
constexpr int kTopics = 8;

v1::ExperimentConfig SmallConfig() {
  v1::ExperimentConfig c;
  c.set_seed(5);
  c.mutable_space()->set_dim(kDim);
  c.mutable_space()->set_topics(kTopics);
  c.mutable_users()->set_count(kUsers);
  c.mutable_ranker()->set_candidates(50);
  c.mutable_ranker()->set_item_ttl_rounds(3);
  return c;
}

// A toy world: topic centres, items around them, users on one topic each.
class World {
 public:
  explicit World(uint64_t seed) : rng_(seed) {
    topics_.resize(kTopics * kDim);
    for (float& x : topics_) x = static_cast<float>(rng_.Normal());
    for (int t = 0; t < kTopics; ++t) Unit(&topics_[t * kDim]);
    for (uint32_t u = 0; u < kUsers; ++u) user_topic_.push_back(u % kTopics);
  }
  std::vector<v1::Item> Round(uint32_t round, int n) {
    std::vector<v1::Item> items;
    for (int i = 0; i < n; ++i) {
      v1::Item item;
      item.set_id((uint64_t{round} << 32) | (i + 1));
      item.set_round(round);
      const int t = static_cast<int>(rng_.UniformInt(kTopics));
      std::vector<float> e(kDim);
      for (uint32_t d = 0; d < kDim; ++d) {
        e[d] = topics_[t * kDim + d] + 0.15f * static_cast<float>(rng_.Normal());
      }
      Unit(e.data());
      item.mutable_embedding()->Assign(e.begin(), e.end());
      items.push_back(item);
    }
    return items;
  }
  std::span<const float> Interest(uint32_t user) const {
    return {&topics_[user_topic_[user] * kDim], kDim};
  }

 private:
  static void Unit(float* v) { Normalize(std::span<float>(v, kDim)); }
  Rng rng_;
  std::vector<float> topics_;
  std::vector<int> user_topic_;
};

RepeatedPtrField<v1::UserQuery> AllUsers(const World* world_for_oracle = nullptr) {
  RepeatedPtrField<v1::UserQuery> users;
  for (uint32_t u = 0; u < kUsers; ++u) {
    v1::UserQuery* q = users.Add();
    q->set_user_id(u);
    if (world_for_oracle) {
      auto p = world_for_oracle->Interest(u);
      q->mutable_true_interest()->Assign(p.begin(), p.end());
    }
  }
  return users;
}

std::unique_ptr<Ranker> MakeRanker(const v1::ExperimentConfig& config,
                                   ThreadPool* pool = nullptr) {
  Ranker::Options options;
  options.pool = pool;
  auto ranker = Ranker::Create(config, options);
  EXPECT_OK(ranker.status());
  return ranker.ok() ? *std::move(ranker) : nullptr;
}

// Mean pairwise cosine distance within each slate, averaged over slates.
double MeanIld(const std::vector<v1::Slate>& slates,
               const absl::flat_hash_map<uint64_t, std::vector<float>>& emb) {
  double total = 0;
  for (const auto& s : slates) {
    double sum = 0;
    int pairs = 0;
    for (int i = 0; i < s.item_ids_size(); ++i) {
      for (int j = i + 1; j < s.item_ids_size(); ++j) {
        sum += 1 - Dot(emb.at(s.item_ids(i)), emb.at(s.item_ids(j)));
        ++pairs;
      }
    }
    total += pairs ? sum / pairs : 0;
  }
  return total / slates.size();
}

// Users engage with items whose true affinity passes 0.7.
std::vector<v1::Interaction> Consume(const World& world,
                                     const std::vector<v1::Slate>& slates,
                                     const absl::flat_hash_map<uint64_t, std::vector<float>>& emb,
                                     double* mean_affinity = nullptr) {
  std::vector<v1::Interaction> out;
  double sum = 0;
  int n = 0;
  for (const auto& s : slates) {
    for (int p = 0; p < s.item_ids_size(); ++p) {
      const double a = Dot(world.Interest(s.user_id()), emb.at(s.item_ids(p)));
      sum += a;
      ++n;
      v1::Interaction x;
      x.set_user_id(s.user_id());
      x.set_item_id(s.item_ids(p));
      x.set_position(p);
      x.set_engaged(a > 0.7);
      out.push_back(x);
    }
  }
  if (mean_affinity) *mean_affinity = sum / n;
  return out;
}

class RankerTest : public ::testing::Test {
 protected:
  void Advance(Ranker* r, uint32_t round, int n = 300) {
    auto items = world_.Round(round, n);
    for (const auto& it : items) {
      emb_[it.id()].assign(it.embedding().begin(), it.embedding().end());
    }
    ASSERT_OK(r->AdvanceRound(round, items));
  }
  World world_{11};
  absl::flat_hash_map<uint64_t, std::vector<float>> emb_;
};

TEST_F(RankerTest, MmrRaisesIntraListDiversity) {
  // Same items, same (oracle) queries; only lambda differs.
  auto config = SmallConfig();
  config.mutable_ranker()->set_variant(v1::RankerConfig::ORACLE);
  auto plain = MakeRanker(config);
  config.mutable_ranker()->set_mmr_lambda(0.5);
  auto mmr = MakeRanker(config);
  auto items = world_.Round(0, 600);
  for (const auto& it : items) emb_[it.id()].assign(it.embedding().begin(), it.embedding().end());
  ASSERT_OK(plain->AdvanceRound(0, items));
  ASSERT_OK(mmr->AdvanceRound(0, items));
  std::vector<v1::Slate> a, b;
  const auto users = AllUsers(&world_);
  ASSERT_OK(plain->RankBatch(users, 10, &a));
  ASSERT_OK(mmr->RankBatch(users, 10, &b));
  const double ild_plain = MeanIld(a, emb_);
  const double ild_mmr = MeanIld(b, emb_);
  std::cout << "ILD lambda=0: " << ild_plain << ", lambda=0.5: " << ild_mmr << "\n";
  EXPECT_GT(ild_mmr, ild_plain + 0.05);
}

TEST_F(RankerTest, FeedbackMovesEstimateTowardEngagedItems) {
  auto ranker = MakeRanker(SmallConfig());
  Advance(ranker.get(), 0);
  const uint32_t user = 3;
  const auto before = ranker->UserEstimate(user);
  // The user engages three items of its own topic.
  std::vector<v1::Interaction> xs;
  uint32_t pos = 0;
  for (const auto& [id, e] : emb_) {
    if (Dot(world_.Interest(user), e) > 0.9 && pos < 3) {
      v1::Interaction x;
      x.set_user_id(user);
      x.set_item_id(id);
      x.set_position(pos++);
      x.set_engaged(true);
      xs.push_back(x);
    }
  }
  ASSERT_EQ(pos, 3u);
  ASSERT_OK(ranker->RecordFeedback(0, xs));
  const auto after = ranker->UserEstimate(user);
  const double before_aff = Dot(world_.Interest(user), before) /
                            std::sqrt(Dot(before, before));
  const double after_aff = Dot(world_.Interest(user), after) /
                           std::sqrt(Dot(after, after));
  EXPECT_GT(after_aff, before_aff + 0.05);
  EXPECT_EQ(ranker->state().known_users, 1u);
  // Recorded once per round.
  EXPECT_THAT(ranker->RecordFeedback(0, xs),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("round 0")));
}

TEST_F(RankerTest, OracleBeatsLearnedOnTrueAffinityEarly) {
  auto learned = MakeRanker(SmallConfig());
  auto oc = SmallConfig();
  oc.mutable_ranker()->set_variant(v1::RankerConfig::ORACLE);
  auto oracle = MakeRanker(oc);
  auto items = world_.Round(0, 400);
  for (const auto& it : items) emb_[it.id()].assign(it.embedding().begin(), it.embedding().end());
  ASSERT_OK(learned->AdvanceRound(0, items));
  ASSERT_OK(oracle->AdvanceRound(0, items));
  std::vector<v1::Slate> ls, os;
  ASSERT_OK(learned->RankBatch(AllUsers(), 10, &ls));
  ASSERT_OK(oracle->RankBatch(AllUsers(&world_), 10, &os));
  double learned_aff = 0, oracle_aff = 0;
  Consume(world_, ls, emb_, &learned_aff);
  Consume(world_, os, emb_, &oracle_aff);
  std::cout << "round 0 mean true affinity: learned " << learned_aff
            << ", oracle " << oracle_aff << "\n";
  EXPECT_GT(oracle_aff, learned_aff + 0.2);
}

TEST_F(RankerTest, LearningImprovesAffinityOverRounds) {
  auto ranker = MakeRanker(SmallConfig());
  std::vector<double> affinity;
  for (uint32_t round = 0; round < 6; ++round) {
    Advance(ranker.get(), round);
    std::vector<v1::Slate> slates;
    ASSERT_OK(ranker->RankBatch(AllUsers(), 10, &slates));
    double a = 0;
    auto xs = Consume(world_, slates, emb_, &a);
    affinity.push_back(a);
    ASSERT_OK(ranker->RecordFeedback(round, xs));
  }
  EXPECT_GT(affinity.back(), affinity.front() + 0.1);
}

TEST_F(RankerTest, ExpiredItemsAreNeverRanked) {
  for (auto index : {v1::RankerConfig::FLAT, v1::RankerConfig::IVF,
                     v1::RankerConfig::HNSW}) {
    auto config = SmallConfig();
    config.mutable_ranker()->set_index(index);
    config.mutable_ranker()->set_ivf_nlist(8);
    config.mutable_ranker()->set_ivf_nprobe(8);
    config.mutable_ranker()->set_epsilon(0.3);
    auto ranker = MakeRanker(config);
    for (uint32_t round = 0; round < 8; ++round) {
      Advance(ranker.get(), round, 200);
      std::vector<v1::Slate> slates;
      ASSERT_OK(ranker->RankBatch(AllUsers(), 10, &slates));
      for (const auto& s : slates) {
        ASSERT_EQ(s.item_ids_size(), 10);
        for (uint64_t id : s.item_ids()) {
          const uint32_t item_round = static_cast<uint32_t>(id >> 32);
          ASSERT_GT(item_round + 3, round) << "expired item ranked";
        }
      }
      ASSERT_OK(ranker->RecordFeedback(round, Consume(world_, slates, emb_)));
    }
    EXPECT_EQ(ranker->state().live_items, 600u);
  }
}

TEST_F(RankerTest, ResultsDoNotDependOnThreadsOrBatching) {
  auto config = SmallConfig();
  config.mutable_ranker()->set_mmr_lambda(0.3);
  config.mutable_ranker()->set_epsilon(0.1);
  std::vector<std::string> runs;
  for (int trial = 0; trial < 3; ++trial) {
    World world(11);
    ThreadPool pool(trial + 1, 0);
    auto ranker = MakeRanker(config, trial == 0 ? nullptr : &pool);
    absl::flat_hash_map<uint64_t, std::vector<float>> emb;
    std::string digest;
    for (uint32_t round = 0; round < 4; ++round) {
      auto items = world.Round(round, 200);
      for (const auto& it : items) emb[it.id()].assign(it.embedding().begin(), it.embedding().end());
      ASSERT_OK(ranker->AdvanceRound(round, items));
      std::vector<v1::Slate> slates;
      const auto users = AllUsers();
      // Batches of 200, 50 or 7 users.
      const int batch = trial == 0 ? 200 : trial == 1 ? 50 : 7;
      for (int start = 0; start < users.size(); start += batch) {
        RepeatedPtrField<v1::UserQuery> part(users.begin() + start,
                                             users.begin() + std::min<int>(start + batch, users.size()));
        std::vector<v1::Slate> out;
        ASSERT_OK(ranker->RankBatch(part, 10, &out));
        slates.insert(slates.end(), out.begin(), out.end());
      }
      for (const auto& s : slates) digest += s.SerializeAsString();
      auto xs = Consume(world, slates, emb);
      std::reverse(xs.begin(), xs.end());  // order sent must not matter
      ASSERT_OK(ranker->RecordFeedback(round, xs));
    }
    runs.push_back(digest);
  }
  EXPECT_EQ(runs[0], runs[1]);
  EXPECT_EQ(runs[0], runs[2]);
}

TEST_F(RankerTest, VariantsAndScoreItems) {
  auto pc = SmallConfig();
  pc.mutable_ranker()->set_variant(v1::RankerConfig::POPULARITY);
  auto pop = MakeRanker(pc);
  auto rc = SmallConfig();
  rc.mutable_ranker()->set_variant(v1::RankerConfig::RANDOM);
  auto rnd = MakeRanker(rc);
  auto items = world_.Round(0, 300);
  ASSERT_OK(pop->AdvanceRound(0, items));
  ASSERT_OK(rnd->AdvanceRound(0, items));
  std::vector<v1::Slate> ps, rs;
  ASSERT_OK(pop->RankBatch(AllUsers(), 10, &ps));
  ASSERT_OK(rnd->RankBatch(AllUsers(), 10, &rs));
  // Popularity gives everyone the same slate; random gives different ones.
  auto ids = [](const v1::Slate& s) {
    return std::vector<uint64_t>(s.item_ids().begin(), s.item_ids().end());
  };
  EXPECT_EQ(ids(ps[0]), ids(ps[1]));
  EXPECT_NE(ids(rs[0]), ids(rs[1]));

  // ScoreItems prefers candidates near what the users engaged with.
  auto ranker = MakeRanker(SmallConfig());
  Advance(ranker.get(), 0);
  std::vector<v1::Slate> slates;
  ASSERT_OK(ranker->RankBatch(AllUsers(), 10, &slates));
  ASSERT_OK(ranker->RecordFeedback(0, Consume(world_, slates, emb_)));
  std::vector<float> cands;
  auto near = world_.Interest(0);
  cands.insert(cands.end(), near.begin(), near.end());
  std::vector<float> far(kDim);
  for (uint32_t d = 0; d < kDim; ++d) far[d] = -near[d];
  cands.insert(cands.end(), far.begin(), far.end());
  ASSERT_OK_AND_ASSIGN(auto scores, ranker->ScoreItems(cands, {}, {}, 100, 1));
  ASSERT_EQ(scores.size(), 2u);
  EXPECT_GT(scores[0], scores[1]);
  EXPECT_GE(scores[1], 0.0f);
  EXPECT_LE(scores[0], 1.0f);
}

TEST_F(RankerTest, ScoreItemsPricesACandidateAgainstTheRoundsOtherItems) {
  // A candidate priced alone, and priced with a copy of itself entering
  // the same round (the context): the copy takes the slots it would have
  // taken, so it earns less; under MMR the copy also makes it redundant
  // in every slate they share, so it loses more than position alone.
  // A reward that ignored the round's other items would pay it the same.
  // Priced by the users of the candidate's topic, once the ranker has
  // learned them (its top slot is then theirs to take).
  std::vector<uint32_t> fans;
  for (uint32_t u = 0; u < kUsers; u += kTopics) fans.push_back(u);
  double kept[2];
  for (int m = 0; m < 2; ++m) {
    auto config = SmallConfig();
    config.mutable_ranker()->set_mmr_lambda(m == 0 ? 0.0 : 0.5);
    config.mutable_ranker()->set_learning_rate(0.5);
    auto ranker = MakeRanker(config);
    for (uint32_t round = 0; round < 4; ++round) {
      Advance(ranker.get(), round, 40);  // few items: the fans have seen most
      std::vector<v1::Slate> slates;
      ASSERT_OK(ranker->RankBatch(AllUsers(), 10, &slates));
      ASSERT_OK(ranker->RecordFeedback(round, Consume(world_, slates, emb_)));
    }
    const std::span<const float> cand = world_.Interest(0);
    ASSERT_OK_AND_ASSIGN(auto alone, ranker->ScoreItems(cand, {}, fans, 0, 1));
    ASSERT_OK_AND_ASSIGN(auto with_copy, ranker->ScoreItems(cand, cand, fans, 0, 1));
    ASSERT_GT(alone[0], 0.0f);
    kept[m] = with_copy[0] / alone[0];
    std::cout << "lambda " << config.ranker().mmr_lambda() << ": priced with its copy, "
              << kept[m] << " of its reward alone\n";
    // Context rows are checked as candidates are.
    EXPECT_THAT(ranker->ScoreItems(cand, std::vector<float>(kDim + 1, 0.1f), {}, kUsers, 1),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("context")));
  }
  EXPECT_LT(kept[0], 0.99);
  EXPECT_LT(kept[1], kept[0] - 0.05);
}

TEST_F(RankerTest, SeenFilterNeverShowsAUserTheSameItemTwice) {
  for (bool filter : {true, false}) {
    auto config = SmallConfig();
    config.mutable_ranker()->set_seen_filter(filter);
    config.mutable_ranker()->set_item_ttl_rounds(4);
    auto ranker = MakeRanker(config);
    emb_.clear();
    absl::flat_hash_map<uint32_t, absl::flat_hash_set<uint64_t>> shown;
    size_t repeats = 0;
    for (uint32_t round = 0; round < 3; ++round) {
      Advance(ranker.get(), round, 100);
      std::vector<v1::Slate> slates;
      ASSERT_OK(ranker->RankBatch(AllUsers(), 10, &slates));
      for (const auto& s : slates) {
        for (uint64_t id : s.item_ids()) repeats += !shown[s.user_id()].insert(id).second;
      }
      // Every slate position examined (Consume reports them all).
      ASSERT_OK(ranker->RecordFeedback(round, Consume(world_, slates, emb_)));
    }
    if (filter) {
      EXPECT_EQ(repeats, 0u);
    } else {
      EXPECT_GT(repeats, 100u);  // without it the best items come back
    }
  }
}

TEST_F(RankerTest, ColdStartGivesEachNewUserTheirOwnFirstSlate) {
  auto distinct_first_slates = [&](uint32_t slots) {
    auto config = SmallConfig();
    config.mutable_ranker()->set_cold_start_slots(slots);
    auto ranker = MakeRanker(config);
    emb_.clear();
    Advance(ranker.get(), 0);
    std::vector<v1::Slate> slates;
    EXPECT_OK(ranker->RankBatch(AllUsers(), 10, &slates));
    std::set<std::vector<uint64_t>> distinct;
    for (const auto& s : slates) distinct.insert({s.item_ids().begin(), s.item_ids().end()});
    return distinct.size();
  };
  // One shared prior: one global slate. With cold-start slots: one each.
  EXPECT_EQ(distinct_first_slates(0), 1u);
  EXPECT_EQ(distinct_first_slates(5), static_cast<size_t>(kUsers));
}

TEST_F(RankerTest, RelevanceIsACosineWhateverTheFeedbackCount) {
  // After one round of feedback the estimate is still short (most of it
  // the prior, plus one learning step), but its direction is what scores:
  // the estimate a ranker exposes has norm 1.
  auto ranker = MakeRanker(SmallConfig());
  Advance(ranker.get(), 0);
  std::vector<v1::Slate> slates;
  ASSERT_OK(ranker->RankBatch(AllUsers(), 10, &slates));
  ASSERT_OK(ranker->RecordFeedback(0, Consume(world_, slates, emb_)));
  for (uint32_t u = 0; u < 5; ++u) {
    const std::vector<float> q = ranker->UserEstimate(u);
    double norm = 0;
    for (float x : q) norm += double{x} * x;
    EXPECT_NEAR(norm, 1.0, 1e-5) << "user " << u;
  }
}

TEST_F(RankerTest, RejectsBadInput) {
  const auto kInvalid = absl::StatusCode::kInvalidArgument;
  auto config = SmallConfig();
  config.mutable_ranker()->set_allow_cold_start(false);
  auto ranker = MakeRanker(config);
  std::vector<v1::Slate> out;
  EXPECT_THAT(ranker->RankBatch(AllUsers(), 10, &out),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("AdvanceRound")));
  EXPECT_THAT(ranker->AdvanceRound(2, world_.Round(2, 5)),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("round 0")));
  auto items = world_.Round(0, 5);
  items[3].add_embedding(0.1f);
  EXPECT_THAT(ranker->AdvanceRound(0, items),
              StatusIs(kInvalid, HasSubstr("items[3].embedding: has 17 values")));
  items = world_.Round(0, 5);
  items[1].set_embedding(0, std::nanf(""));
  EXPECT_THAT(ranker->AdvanceRound(0, items),
              StatusIs(kInvalid, HasSubstr("items[1].embedding[0]: is NaN")));
  items = world_.Round(0, 5);
  items[4].set_id(items[0].id());
  EXPECT_THAT(ranker->AdvanceRound(0, items),
              StatusIs(kInvalid, HasSubstr("items[4].id")));
  EXPECT_EQ(ranker->state().live_items, 0u);  // nothing half-applied
  Advance(ranker.get(), 0);

  RepeatedPtrField<v1::UserQuery> users;
  users.Add()->set_user_id(kUsers);
  EXPECT_THAT(ranker->RankBatch(users, 10, &out),
              StatusIs(kInvalid, HasSubstr("users[0].user_id: 200 is not a user")));
  users[0].set_user_id(1);
  EXPECT_THAT(ranker->RankBatch(users, 10, &out),
              StatusIs(kInvalid, HasSubstr("allow_cold_start")));
  EXPECT_THAT(ranker->RankBatch(users, 51, &out),
              StatusIs(kInvalid, HasSubstr("slate_size: 51 exceeds ranker.candidates")));
  RepeatedPtrField<v1::UserQuery> many;
  for (int i = 0; i < 10001; ++i) many.Add()->set_user_id(0);
  EXPECT_THAT(ranker->RankBatch(many, 10, &out),
              StatusIs(kInvalid, HasSubstr("10001 users exceed the limit")));

  std::vector<float> q(kDim, 0.0f);
  std::vector<Neighbors> nb;
  EXPECT_THAT(ranker->Retrieve(q, 10, &nb),
              StatusIs(kInvalid, HasSubstr("queries[row 0]: is the zero vector")));
  q[0] = 1;
  EXPECT_THAT(ranker->Retrieve(q, 0, &nb), StatusIs(kInvalid, HasSubstr("k:")));
  // The limit ranker.proto documents, 10000 query rows, is the one enforced.
  std::vector<float> rows(10001 * kDim, 0.0f);
  for (size_t r = 0; r < 10001; ++r) rows[r * kDim] = 1;
  EXPECT_THAT(ranker->Retrieve(rows, 10, &nb),
              StatusIs(kInvalid, HasSubstr("10001 rows exceed the limit of 10000")));
  EXPECT_THAT(ranker->ScoreItems(std::vector<float>(kDim - 1, 0.5f), {}, {}, 5, 1),
              StatusIs(kInvalid, HasSubstr("candidates")));

  v1::Interaction x;
  x.set_user_id(0);
  x.set_item_id(12345);
  EXPECT_THAT(ranker->RecordFeedback(0, {&x, 1}),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("item 12345")));

  auto oc = SmallConfig();
  oc.mutable_ranker()->set_variant(v1::RankerConfig::ORACLE);
  auto oracle = MakeRanker(oc);
  ASSERT_OK(oracle->AdvanceRound(0, world_.Round(0, 20)));
  users[0].mutable_true_interest()->Resize(kDim - 2, 0.3f);
  EXPECT_THAT(oracle->RankBatch(users, 10, &out),
              StatusIs(kInvalid, HasSubstr("users[0].true_interest")));

  auto bad = SmallConfig();
  bad.mutable_ranker()->set_mmr_lambda(-0.1);
  EXPECT_THAT(Ranker::Create(bad, {}),
              StatusIs(kInvalid, HasSubstr("ranker.mmr_lambda")));
}

}  // namespace
}  // namespace feedloop::ranker

namespace feedloop::ranker {
namespace {

// A run confined to one core (execution.threads 1) gets one OpenMP thread
// in its FAISS calls, whatever the service allows; the lower of the two
// bounds wins. Before, execution.threads sized only the loop's pool.
TEST(IndexOptions, TheRunsThreadsBoundItsFaissCalls) {
  v1::ExperimentConfig c;
  c.mutable_space()->set_dim(8);
  EXPECT_EQ(IndexOptionsFor(c, 0).search_threads, 0);  // FAISS's default
  EXPECT_EQ(IndexOptionsFor(c, 3).search_threads, 3);
  c.mutable_execution()->set_threads(1);
  EXPECT_EQ(IndexOptionsFor(c, 0).search_threads, 1);
  EXPECT_EQ(IndexOptionsFor(c, 4).search_threads, 1);
  c.mutable_execution()->set_threads(6);
  EXPECT_EQ(IndexOptionsFor(c, 4).search_threads, 4);
  // The IVF calibration aims at the run's recall for its candidates.
  c.mutable_ranker()->set_candidates(40);
  c.mutable_ranker()->set_ivf_target_recall(0.95);
  EXPECT_EQ(IndexOptionsFor(c, 0).ivf_calibration_k, 40u);
  EXPECT_DOUBLE_EQ(IndexOptionsFor(c, 0).ivf_target_recall, 0.95);
  EXPECT_EQ(IndexOptionsFor(c, 0).ivf_nlist, 0u);  // by size, by default
}

}  // namespace
}  // namespace feedloop::ranker
