#include "ranker/vector_index.h"

#include <algorithm>
#include <set>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "common/random.h"
#include "common/vectors.h"
#include "faiss/utils/distances.h"
#include "ranker/distance.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"

namespace feedloop::ranker {
namespace {

using ::feedloop::testing::StatusIs;
using ::testing::HasSubstr;
using Type = VectorIndex::Type;

constexpr uint32_t kDim = 32;

// Unit vectors clustered around `centers` topic centres drawn from
// `topic_seed`, like the model's content; `seed` draws the points. Queries
// for a recall test share the items' topic seed, as users' interests share
// the content's topics in the model.
std::vector<float> ClusteredVectors(size_t n, int centers, uint64_t seed,
                                    uint64_t topic_seed = 99) {
  Rng topic_rng(topic_seed);
  std::vector<float> c(centers * kDim);
  for (float& x : c) x = static_cast<float>(topic_rng.Normal());
  for (int k = 0; k < centers; ++k) Normalize(std::span<float>(&c[k * kDim], kDim));
  Rng rng(seed);
  std::vector<float> v(n * kDim);
  for (size_t i = 0; i < n; ++i) {
    const int k = static_cast<int>(rng.UniformInt(centers));
    for (uint32_t d = 0; d < kDim; ++d) {
      v[i * kDim + d] = c[k * kDim + d] + 0.5f * static_cast<float>(rng.Normal()) / 5.66f;
    }
    Normalize(std::span<float>(&v[i * kDim], kDim));
  }
  return v;
}

std::vector<uint64_t> Ids(uint64_t first, size_t n) {
  std::vector<uint64_t> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = first + i;
  return ids;
}

// Exact top-k by inner product over the given live rows, ties by id.
std::vector<uint64_t> BruteForce(const std::vector<float>& data,
                                 const std::vector<uint64_t>& ids,
                                 const absl::flat_hash_set<uint64_t>& live,
                                 std::span<const float> q, size_t k) {
  std::vector<std::pair<float, uint64_t>> all;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (!live.contains(ids[i])) continue;
    float s = 0;
    for (uint32_t d = 0; d < kDim; ++d) s += data[i * kDim + d] * q[d];
    all.emplace_back(s, ids[i]);
  }
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  std::vector<uint64_t> out;
  for (size_t i = 0; i < std::min(k, all.size()); ++i) out.push_back(all[i].second);
  return out;
}

std::unique_ptr<VectorIndex> Make(Type type) {
  VectorIndex::Options o;
  o.type = type;
  o.dim = kDim;
  auto index = VectorIndex::Create(o);
  EXPECT_OK(index.status());
  return index.ok() ? *std::move(index) : nullptr;
}

TEST(VectorIndex, FlatAgreesExactlyWithBruteForce) {
  auto index = Make(Type::kFlat);
  const size_t n = 3000;
  auto data = ClusteredVectors(n, 16, 1);
  auto ids = Ids(1, n);
  ASSERT_OK(index->Add(ids, data));
  // Remove a third, so agreement includes filtering dead entries.
  std::vector<uint64_t> removed;
  absl::flat_hash_set<uint64_t> live(ids.begin(), ids.end());
  for (size_t i = 0; i < n; i += 3) {
    removed.push_back(ids[i]);
    live.erase(ids[i]);
  }
  ASSERT_OK(index->Remove(removed));
  auto queries = ClusteredVectors(50, 16, 2);
  std::vector<Neighbors> out;
  ASSERT_OK(index->Search(queries, 10, &out));
  ASSERT_EQ(out.size(), 50u);
  for (size_t q = 0; q < 50; ++q) {
    EXPECT_EQ(out[q].ids,
              BruteForce(data, ids, live, std::span<const float>(&queries[q * kDim], kDim), 10))
        << "query " << q;
  }
}

double RecallAt10(Type type, size_t n) {
  auto data = ClusteredVectors(n, 16, 3);
  auto ids = Ids(1, n);
  auto flat = Make(Type::kFlat);
  auto approx = Make(type);
  EXPECT_OK(flat->Add(ids, data));
  EXPECT_OK(approx->Add(ids, data));
  EXPECT_TRUE(approx->trained());
  auto queries = ClusteredVectors(200, 16, 4);
  std::vector<Neighbors> exact, got;
  EXPECT_OK(flat->Search(queries, 10, &exact));
  EXPECT_OK(approx->Search(queries, 10, &got));
  size_t hit = 0;
  for (size_t q = 0; q < exact.size(); ++q) {
    std::set<uint64_t> truth(exact[q].ids.begin(), exact[q].ids.end());
    for (uint64_t id : got[q].ids) hit += truth.count(id);
  }
  return static_cast<double>(hit) / (10.0 * exact.size());
}

TEST(VectorIndex, IvfRecallAt10AgainstFlat) {
  const double recall = RecallAt10(Type::kIvf, 20000);
  std::cout << "recall@10 = " << recall << "\n";
  EXPECT_GE(recall, 0.9);
}

// HNSW's distance kernel: exact where the floats are (small integers),
// FAISS's own distance within rounding elsewhere, for lengths on both
// sides of its 8-wide blocks.
TEST(L2Squared, MatchesTheDefinitionAtEveryLength) {
  Rng rng(5);
  for (size_t d : {1, 3, 7, 8, 9, 15, 16, 17, 63, 64, 65, 100}) {
    std::vector<float> a(d), b(d, 0.0f);
    double exact = 0;
    for (size_t j = 0; j < d; ++j) {
      a[j] = static_cast<float>(j % 5) - 2.0f;  // -2..2
      exact += static_cast<double>(a[j]) * a[j];
    }
    EXPECT_EQ(L2Squared(a.data(), b.data(), d), static_cast<float>(exact)) << "d " << d;
    for (size_t j = 0; j < d; ++j) {
      a[j] = static_cast<float>(rng.Normal());
      b[j] = static_cast<float>(rng.Normal());
    }
    const float faiss_value = faiss::fvec_L2sqr(a.data(), b.data(), d);
    EXPECT_NEAR(L2Squared(a.data(), b.data(), d), faiss_value, 1e-5f * faiss_value)
        << "d " << d;
    // A distance, not a similarity: the vector to itself is 0.
    EXPECT_EQ(L2Squared(a.data(), a.data(), d), 0.0f);
  }
}

TEST(VectorIndex, HnswRecallAt10AgainstFlat) {
  const double recall = RecallAt10(Type::kHnsw, 20000);
  std::cout << "recall@10 = " << recall << "\n";
  EXPECT_GE(recall, 0.9);
}

TEST(VectorIndex, IvfSearchesExactlyUntilTrained) {
  auto index = Make(Type::kIvf);
  auto data = ClusteredVectors(500, 8, 5);
  auto ids = Ids(1, 500);
  ASSERT_OK(index->Add(ids, data));
  EXPECT_FALSE(index->trained());
  auto queries = ClusteredVectors(5, 8, 6);
  std::vector<Neighbors> out;
  ASSERT_OK(index->Search(queries, 10, &out));
  absl::flat_hash_set<uint64_t> live(ids.begin(), ids.end());
  for (size_t q = 0; q < 5; ++q) {
    EXPECT_EQ(out[q].ids,
              BruteForce(data, ids, live, std::span<const float>(&queries[q * kDim], kDim), 10));
  }
}

class ExpiryTest : public ::testing::TestWithParam<Type> {};

TEST_P(ExpiryTest, RemovedItemsAreNeverReturnedIncludingAfterRebuilds) {
  VectorIndex::Options o;
  o.type = GetParam();
  o.dim = kDim;
  o.ivf_nlist = 16;  // small, so IVF trains within this test
  o.ivf_nprobe = 16;
  o.rebuild_dead_fraction = 0.3;
  ASSERT_OK_AND_ASSIGN(auto index, VectorIndex::Create(o));
  absl::flat_hash_set<uint64_t> live;
  std::vector<std::vector<uint64_t>> rounds;
  absl::flat_hash_map<uint64_t, std::vector<float>> added;
  // Twelve rounds of 400 items, each living 3 rounds.
  for (int round = 0; round < 12; ++round) {
    if (round >= 3) {
      ASSERT_OK(index->Remove(rounds[round - 3]));
      for (uint64_t id : rounds[round - 3]) live.erase(id);
    }
    auto ids = Ids(1 + round * 1000, 400);
    const std::vector<float> rows = ClusteredVectors(400, 8, 100 + round);
    ASSERT_OK(index->Add(ids, rows));
    for (size_t i = 0; i < ids.size(); ++i) {
      added[ids[i]].assign(rows.begin() + i * kDim, rows.begin() + (i + 1) * kDim);
    }
    live.insert(ids.begin(), ids.end());
    rounds.push_back(ids);
    // The index keeps the only copy of each row (read back by position,
    // through IVF's direct map once trained): every live item's row is
    // exactly what was added, across trainings and rebuilds.
    for (uint64_t id : live) {
      const float* row = index->Vector(id);
      ASSERT_NE(row, nullptr) << id;
      ASSERT_EQ(std::vector<float>(row, row + kDim), added.at(id)) << "item " << id;
    }
    std::vector<Neighbors> out;
    ASSERT_OK(index->Search(ClusteredVectors(20, 8, 200 + round), 50, &out));
    for (const Neighbors& n : out) {
      ASSERT_EQ(n.ids.size(), 50u);
      for (uint64_t id : n.ids) {
        ASSERT_TRUE(live.contains(id)) << "expired item " << id << " returned";
      }
    }
    EXPECT_EQ(index->live(), live.size());
    for (uint64_t id : rounds[0]) {
      if (!live.contains(id)) {
        EXPECT_EQ(index->Vector(id), nullptr);
      }
    }
  }
  EXPECT_GT(index->rebuilds(), 0u);
  // The dead share stays bounded by the rebuild threshold.
  EXPECT_LE(index->entries(), static_cast<size_t>(live.size() / (1 - 0.3)) + 400);
}

INSTANTIATE_TEST_SUITE_P(AllTypes, ExpiryTest,
                         ::testing::Values(Type::kFlat, Type::kIvf, Type::kHnsw),
                         [](const auto& info) {
                           switch (info.param) {
                             case Type::kFlat: return std::string("Flat");
                             case Type::kIvf: return std::string("Ivf");
                             case Type::kHnsw: return std::string("Hnsw");
                           }
                           return std::string("unknown");
                         });

TEST(VectorIndex, RejectsBadInputWithoutChangingAnything) {
  auto index = Make(Type::kFlat);
  auto data = ClusteredVectors(3, 2, 7);
  ASSERT_OK(index->Add(Ids(1, 3), data));
  EXPECT_THAT(index->Add(Ids(10, 2), data),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("vectors")));
  EXPECT_THAT(index->Add(Ids(3, 3), data),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("ids[0]: item 3 is already indexed")));
  std::vector<float> bad = ClusteredVectors(1, 1, 8);
  bad[5] = std::nanf("");
  EXPECT_THAT(index->Add(Ids(20, 1), bad),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not finite")));
  EXPECT_EQ(index->live(), 3u);
  std::vector<Neighbors> out;
  EXPECT_THAT(index->Search(std::vector<float>(kDim + 1, 0.1f), 5, &out),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("queries")));
  VectorIndex::Options o;
  o.dim = 0;
  EXPECT_THAT(VectorIndex::Create(o),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("index.dim")));
}

// FLAT compacts as items expire, so a search never scans more than a few
// percent of dead rows; at the general 0.5 threshold it would scan up to as
// many dead rows as live ones, and a round's search time with them.
TEST(VectorIndex, FlatCompactsAsItemsExpire) {
  for (double compact : {0.05, 1.0}) {
    VectorIndex::Options o;
    o.dim = kDim;
    o.flat_compact_fraction = compact;
    ASSERT_OK_AND_ASSIGN(auto index, VectorIndex::Create(o));
    size_t most_entries = 0;
    for (int round = 0; round < 10; ++round) {
      if (round >= 5) {
        ASSERT_OK(index->Remove(Ids(1 + (round - 5) * 1000, 200)));
      }
      ASSERT_OK(index->Add(Ids(1 + round * 1000, 200), ClusteredVectors(200, 4, round)));
      most_entries = std::max(most_entries, index->entries());
      EXPECT_EQ(index->live(), std::min(round + 1, 5) * 200u);
    }
    if (compact < 1) {
      EXPECT_LE(most_entries, 1000u + 200u);  // live, plus at most one round
    } else {
      EXPECT_EQ(most_entries, 2000u);  // never compacted: twice the live rows
    }
  }
}

TEST(VectorIndex, IvfListsFollowTheIndexSize) {
  EXPECT_EQ(IvfListsFor(0), 16u);
  EXPECT_EQ(IvfListsFor(10000), 256u);      // 4 sqrt(n) = 400
  EXPECT_EQ(IvfListsFor(1000000), 2048u);   // 4000
  EXPECT_EQ(IvfListsFor(10000000), 8192u);  // 12649
  EXPECT_EQ(IvfListsFor(size_t{1} << 40), 65536u);
}

// Recall@k of `index` against exact search, on queries that are not items
// (users' interests share the items' topics, not their vectors).
double RecallAgainstExact(const VectorIndex& index, const std::vector<float>& data,
                          size_t n, size_t k) {
  const std::vector<uint64_t> ids = Ids(1, n);
  const absl::flat_hash_set<uint64_t> live(ids.begin(), ids.end());
  const std::vector<float> queries = ClusteredVectors(100, 16, 4242);
  std::vector<Neighbors> out;
  EXPECT_OK(index.Search(queries, k, &out));
  size_t hits = 0;
  for (size_t q = 0; q < 100; ++q) {
    const auto truth = BruteForce(data, ids, live,
                                  std::span<const float>(&queries[q * kDim], kDim), k);
    const std::set<uint64_t> found(out[q].ids.begin(), out[q].ids.end());
    for (uint64_t id : truth) hits += found.count(id);
  }
  return static_cast<double>(hits) / (100.0 * k);
}

// With the defaults, IVF picks its lists by size and calibrates nprobe to
// the target recall; it retrains once the index has grown past its lists.
// The plausible wrong setting, a fixed small nprobe, misses the target.
TEST(VectorIndex, IvfCalibratesToTheTargetRecallAndRetrainsAsItGrows) {
  VectorIndex::Options o;
  o.type = Type::kIvf;
  o.dim = kDim;
  o.ivf_calibration_k = 50;
  ASSERT_OK_AND_ASSIGN(auto index, VectorIndex::Create(o));
  const std::vector<float> data = ClusteredVectors(41000, 16, 31);
  ASSERT_OK(index->Add(Ids(1, 10000), std::span<const float>(data.data(), 10000 * kDim)));
  VectorIndex::IvfShape shape = index->ivf_shape();
  ASSERT_TRUE(index->trained());
  EXPECT_EQ(shape.nlist, 256u);
  EXPECT_EQ(shape.trained_at, 10000u);
  EXPECT_GE(shape.recall, 0.9);
  EXPECT_GE(shape.nprobe, 1u);
  EXPECT_LT(shape.nprobe, shape.nlist);
  EXPECT_GE(RecallAgainstExact(*index, data, 10000, 50), 0.85);

  VectorIndex::Options fixed = o;
  fixed.ivf_nlist = 256;
  fixed.ivf_nprobe = 1;
  ASSERT_OK_AND_ASSIGN(auto one_probe, VectorIndex::Create(fixed));
  ASSERT_OK(one_probe->Add(Ids(1, 10000), std::span<const float>(data.data(), 10000 * kDim)));
  EXPECT_LT(RecallAgainstExact(*one_probe, data, 10000, 50), 0.85);
  EXPECT_EQ(one_probe->ivf_shape().nprobe, 1u);

  // Grown past 4 x 10000: retrained on the new size, with more lists.
  ASSERT_OK(index->Add(Ids(10001, 31000),
                       std::span<const float>(data.data() + 10000 * kDim, 31000 * kDim)));
  shape = index->ivf_shape();
  EXPECT_EQ(shape.trained_at, 41000u);
  EXPECT_EQ(shape.nlist, 512u);
  EXPECT_GE(shape.recall, 0.9);
  EXPECT_GE(RecallAgainstExact(*index, data, 41000, 50), 0.85);
  // Lists given explicitly stay as given.
  ASSERT_OK(one_probe->Add(Ids(10001, 31000),
                           std::span<const float>(data.data() + 10000 * kDim, 31000 * kDim)));
  EXPECT_EQ(one_probe->ivf_shape().nlist, 256u);
  EXPECT_EQ(one_probe->ivf_shape().trained_at, 10000u);
}

TEST(VectorIndex, SameCallsGiveSameResults) {
  for (Type type : {Type::kIvf, Type::kHnsw}) {
    std::vector<std::vector<uint64_t>> results;
    for (int trial = 0; trial < 2; ++trial) {
      VectorIndex::Options o;
      o.type = type;
      o.dim = kDim;
      o.ivf_nlist = 32;
      o.ivf_nprobe = 4;
      o.search_threads = trial + 1;
      ASSERT_OK_AND_ASSIGN(auto index, VectorIndex::Create(o));
      ASSERT_OK(index->Add(Ids(1, 5000), ClusteredVectors(5000, 16, 9)));
      std::vector<Neighbors> out;
      ASSERT_OK(index->Search(ClusteredVectors(30, 16, 10), 20, &out));
      std::vector<uint64_t> flat;
      for (auto& n : out) flat.insert(flat.end(), n.ids.begin(), n.ids.end());
      results.push_back(flat);
    }
    EXPECT_EQ(results[0], results[1]);
  }
}

}  // namespace
}  // namespace feedloop::ranker
