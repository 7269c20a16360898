// Ranking throughput in-process, against raw FAISS on the same queries, so
// the ranker's overhead reads as a ratio. 100k items, d = 64, K = 100
// candidates, slates of 10, FLAT / IVF / HNSW with default settings.
//
//   ./dev bench                       (or build/bench/ranker_bench)
//
// Counters: users_per_second for the ranker; queries_per_second for raw
// FAISS (IndexFlatIP, IndexIVFFlat, IndexHNSWFlat built the same way).

#include <benchmark/benchmark.h>

#include <map>
#include <memory>
#include <set>

#include "common/random.h"
#include "common/thread_pool.h"
#include "common/vectors.h"
#include "faiss/IndexFlat.h"
#include "faiss/IndexHNSW.h"
#include "faiss/IndexIVFFlat.h"
#include "ranker/ranker.h"
#include "ranker/vector_index.h"

namespace feedloop::ranker {
namespace {

constexpr uint32_t kDim = 64;
constexpr uint32_t kItems = 100000;
constexpr uint32_t kUsers = 4096;
constexpr int kTopics = 32;
constexpr uint32_t kCandidates = 100;

// Unit vectors around shared topic centres; items and users both.
class Data {
 public:
  Data() {
    Rng rng(7);
    topics_.resize(kTopics * kDim);
    for (float& x : topics_) x = static_cast<float>(rng.Normal());
    for (int t = 0; t < kTopics; ++t) Normalize(std::span<float>(&topics_[t * kDim], kDim));
    items_ = Around(rng, kItems, 0.5);
    users_ = Around(rng, kUsers, 0.8);
  }
  const std::vector<float>& items() const { return items_; }
  const std::vector<float>& users() const { return users_; }

  // n unit vectors around the topic centres.
  std::vector<float> Around(Rng& rng, size_t n, double spread) const {
    std::vector<float> v(n * kDim);
    for (size_t i = 0; i < n; ++i) {
      const int t = static_cast<int>(rng.UniformInt(kTopics));
      for (uint32_t d = 0; d < kDim; ++d) {
        v[i * kDim + d] = topics_[t * kDim + d] +
                          static_cast<float>(spread * rng.Normal() / 8.0);
      }
      Normalize(std::span<float>(&v[i * kDim], kDim));
    }
    return v;
  }
 private:
  std::vector<float> topics_, items_, users_;
};

const Data& TheData() {
  static const Data* data = new Data();
  return *data;
}

v1::RankerConfig::IndexType TypeOf(int64_t arg) {
  return arg == 0 ? v1::RankerConfig::FLAT
                  : arg == 1 ? v1::RankerConfig::IVF : v1::RankerConfig::HNSW;
}

// One ranker per index type, built once: round 0 holds all 100k items.
Ranker& RankerFor(int64_t type) {
  static std::map<int64_t, std::unique_ptr<Ranker>> rankers;
  static ThreadPool pool(DefaultThreadCount(), 0);
  auto& slot = rankers[type];
  if (slot) return *slot;
  v1::ExperimentConfig c;
  c.mutable_space()->set_dim(kDim);
  c.mutable_space()->set_topics(kTopics);
  c.mutable_users()->set_count(kUsers);
  c.mutable_ranker()->set_index(TypeOf(type));
  c.mutable_ranker()->set_variant(v1::RankerConfig::ORACLE);
  c.mutable_ranker()->set_candidates(kCandidates);
  Ranker::Options options;
  options.pool = &pool;
  slot = *Ranker::Create(c, options);
  std::vector<v1::Item> items(kItems);
  const auto& data = TheData().items();
  for (uint32_t i = 0; i < kItems; ++i) {
    items[i].set_id(i + 1);
    items[i].mutable_embedding()->Assign(data.begin() + i * kDim,
                                         data.begin() + (i + 1) * kDim);
  }
  if (!slot->AdvanceRound(0, items).ok()) std::abort();
  return *slot;
}

google::protobuf::RepeatedPtrField<v1::UserQuery> Users(size_t first, size_t n) {
  google::protobuf::RepeatedPtrField<v1::UserQuery> users;
  const auto& data = TheData().users();
  for (size_t i = 0; i < n; ++i) {
    const size_t u = (first + i) % kUsers;
    v1::UserQuery* q = users.Add();
    q->set_user_id(static_cast<uint32_t>(u));
    q->mutable_true_interest()->Assign(data.begin() + u * kDim,
                                       data.begin() + (u + 1) * kDim);
  }
  return users;
}

void BM_RankBatch(benchmark::State& state) {
  Ranker& ranker = RankerFor(state.range(0));
  const size_t batch = static_cast<size_t>(state.range(1));
  size_t next = 0;
  std::vector<v1::Slate> slates;
  for (auto _ : state) {
    state.PauseTiming();
    auto users = Users(next, batch);
    next += batch;
    state.ResumeTiming();
    if (!ranker.RankBatch(users, 10, &slates).ok()) std::abort();
    benchmark::DoNotOptimize(slates.data());
  }
  state.counters["users_per_second"] = benchmark::Counter(
      static_cast<double>(state.iterations() * batch), benchmark::Counter::kIsRate);
}

// An IVF VectorIndex over the first n rows of `data`: the defaults (lists
// by size, nprobe calibrated), or the first wave's fixed 256 lists and 32
// probes.
std::unique_ptr<VectorIndex> IvfIndex(const std::vector<float>& data, size_t n, bool fixed) {
  VectorIndex::Options o;
  o.type = VectorIndex::Type::kIvf;
  o.dim = kDim;
  o.ivf_calibration_k = kCandidates;
  if (fixed) {
    o.ivf_nlist = 256;
    o.ivf_nprobe = 32;
  }
  auto index = *VectorIndex::Create(o);
  std::vector<uint64_t> ids(n);
  for (size_t i = 0; i < n; ++i) ids[i] = i + 1;
  if (!index->Add(ids, std::span<const float>(data.data(), n * kDim)).ok()) std::abort();
  return index;
}

VectorIndex::IvfShape IvfShapeOf(const std::vector<float>& data, size_t n, bool fixed) {
  return IvfIndex(data, n, fixed)->ivf_shape();
}

// IVF by size against the first wave's fixed shape, at two sizes: queries
// per second of 512-user batches, and recall@100 of 512 users' queries
// against exact search. Args: {items, 0 fixed 256/32 or 1 by size}.
void BM_IvfShape(benchmark::State& state) {
  const size_t n = static_cast<size_t>(state.range(0));
  const bool fixed = state.range(1) == 0;
  static std::map<size_t, std::vector<float>> items;
  if (!items.contains(n)) {
    Rng rng(11);
    items[n] = TheData().Around(rng, n, 0.5);
  }
  const std::vector<float>& data = items[n];
  auto index = IvfIndex(data, n, fixed);
  VectorIndex::Options exact_options;
  exact_options.dim = kDim;
  auto exact = *VectorIndex::Create(exact_options);
  {
    std::vector<uint64_t> ids(n);
    for (size_t i = 0; i < n; ++i) ids[i] = i + 1;
    if (!exact->Add(ids, data).ok()) std::abort();
  }
  const std::vector<float> queries(TheData().users().begin(),
                                   TheData().users().begin() + 512 * kDim);
  std::vector<Neighbors> truth, found;
  if (!exact->Search(queries, kCandidates, &truth).ok()) std::abort();
  for (auto _ : state) {
    if (!index->Search(queries, kCandidates, &found).ok()) std::abort();
    benchmark::DoNotOptimize(found.data());
  }
  size_t hits = 0;
  for (size_t q = 0; q < truth.size(); ++q) {
    std::set<uint64_t> t(truth[q].ids.begin(), truth[q].ids.end());
    for (uint64_t id : found[q].ids) hits += t.count(id);
  }
  const VectorIndex::IvfShape shape = index->ivf_shape();
  state.counters["queries_per_second"] = benchmark::Counter(
      static_cast<double>(state.iterations() * 512), benchmark::Counter::kIsRate);
  state.counters["recall"] = static_cast<double>(hits) / (512.0 * kCandidates);
  state.counters["nlist"] = shape.nlist;
  state.counters["nprobe"] = shape.nprobe;
  state.counters["scanned"] = static_cast<double>(shape.nprobe) / shape.nlist;
}
BENCHMARK(BM_IvfShape)
    ->ArgsProduct({{100000, 400000}, {0, 1}})
    ->ArgNames({"items", "by_size"})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond)
    ->MinTime(2.0);

// FLAT after expiry: ten rounds of 20,000 items living 5 rounds (100,000
// live at the end), then 512 users' searches for K = 100. Compacting at 5%
// dead (the default) against at 100% (never: what the general 0.5
// threshold left, up to as many dead rows as live). Args: {compact %}.
void BM_FlatAfterExpiry(benchmark::State& state) {
  VectorIndex::Options o;
  o.dim = kDim;
  o.flat_compact_fraction = static_cast<double>(state.range(0)) / 100;
  auto index = *VectorIndex::Create(o);
  static const std::vector<float>* rows = [] {
    Rng rng(13);
    return new std::vector<float>(TheData().Around(rng, 200000, 0.5));
  }();
  for (uint64_t round = 0; round < 10; ++round) {
    std::vector<uint64_t> ids(20000);
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = round * 20000 + i + 1;
    if (round >= 5) {
      std::vector<uint64_t> expired(20000);
      for (size_t i = 0; i < expired.size(); ++i) expired[i] = (round - 5) * 20000 + i + 1;
      if (!index->Remove(expired).ok()) std::abort();
    }
    if (!index->Add(ids, std::span<const float>(rows->data() + round * 20000 * kDim,
                                                20000 * kDim)).ok()) {
      std::abort();
    }
  }
  const std::vector<float> queries(TheData().users().begin(),
                                   TheData().users().begin() + 512 * kDim);
  std::vector<Neighbors> found;
  for (auto _ : state) {
    if (!index->Search(queries, kCandidates, &found).ok()) std::abort();
    benchmark::DoNotOptimize(found.data());
  }
  state.counters["queries_per_second"] = benchmark::Counter(
      static_cast<double>(state.iterations() * 512), benchmark::Counter::kIsRate);
  state.counters["entries_per_live"] =
      static_cast<double>(index->entries()) / static_cast<double>(index->live());
}
BENCHMARK(BM_FlatAfterExpiry)->Arg(5)->Arg(100)->ArgName("compact_pct")->UseRealTime()
    ->Unit(benchmark::kMillisecond)->MinTime(2.0);

// HNSW search cost by how the index was built: the items in one Add (as
// an in-process ranker given a round at once) or in Adds of 1,000 (as a
// served ranker catching up from the store's scan chunks). One user per
// search, K = 100. Args: {items per Add, 0 for all at once}.
void BM_HnswByBuild(benchmark::State& state) {
  VectorIndex::Options o;
  o.dim = kDim;
  o.type = VectorIndex::Type::kHnsw;
  auto index = *VectorIndex::Create(o);
  const std::vector<float>& items = TheData().items();
  const size_t chunk = state.range(0) == 0 ? kItems : static_cast<size_t>(state.range(0));
  for (size_t first = 0; first < kItems; first += chunk) {
    const size_t n = std::min<size_t>(chunk, kItems - first);
    std::vector<uint64_t> ids(n);
    for (size_t i = 0; i < n; ++i) ids[i] = first + i + 1;
    if (!index->Add(ids, std::span<const float>(items.data() + first * kDim, n * kDim))
             .ok()) {
      std::abort();
    }
  }
  std::vector<Neighbors> found;
  size_t u = 0;
  for (auto _ : state) {
    const std::span<const float> query(TheData().users().data() + (u++ % kUsers) * kDim,
                                       kDim);
    if (!index->Search(query, kCandidates, &found).ok()) std::abort();
    benchmark::DoNotOptimize(found.data());
  }
  state.counters["queries_per_second"] = benchmark::Counter(
      static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_HnswByBuild)->Arg(0)->Arg(1000)->ArgName("chunk")->UseRealTime()->MinTime(2.0);

// The same FAISS index types, built directly, searching the same queries
// for the same K: what the ranker's retrieval costs at the very least.
faiss::Index& RawFor(int64_t type) {
  static std::map<int64_t, std::unique_ptr<faiss::Index>> raw;
  auto& slot = raw[type];
  if (slot) return *slot;
  const auto& data = TheData().items();
  if (type == 0) {
    slot = std::make_unique<faiss::IndexFlatIP>(kDim);
  } else if (type == 1) {
    // The lists and probes the ranker's index chose (by size, calibrated).
    const VectorIndex::IvfShape shape = IvfShapeOf(data, kItems, /*fixed=*/false);
    auto* quantizer = new faiss::IndexFlatIP(kDim);
    auto ivf = std::make_unique<faiss::IndexIVFFlat>(quantizer, kDim, shape.nlist,
                                                     faiss::METRIC_INNER_PRODUCT);
    ivf->own_fields = true;
    ivf->nprobe = shape.nprobe;
    ivf->train(std::min<size_t>(kItems, 256 * size_t{shape.nlist}), data.data());
    slot = std::move(ivf);
  } else {
    auto hnsw = std::make_unique<faiss::IndexHNSWFlat>(kDim, 32, faiss::METRIC_L2);
    hnsw->hnsw.efConstruction = 64;
    hnsw->hnsw.efSearch = 128;
    slot = std::move(hnsw);
  }
  slot->add(kItems, data.data());
  return *slot;
}

void BM_RawFaissSearch(benchmark::State& state) {
  faiss::Index& index = RawFor(state.range(0));
  const size_t batch = static_cast<size_t>(state.range(1));
  const auto& users = TheData().users();
  std::vector<float> queries(batch * kDim);
  std::vector<float> distances(batch * kCandidates);
  std::vector<faiss::Index::idx_t> labels(batch * kCandidates);
  size_t next = 0;
  for (auto _ : state) {
    state.PauseTiming();
    for (size_t i = 0; i < batch; ++i) {
      const size_t u = (next + i) % kUsers;
      std::copy(users.begin() + u * kDim, users.begin() + (u + 1) * kDim,
                queries.begin() + i * kDim);
    }
    next += batch;
    state.ResumeTiming();
    index.search(static_cast<faiss::Index::idx_t>(batch), queries.data(),
                 kCandidates, distances.data(), labels.data());
    benchmark::DoNotOptimize(labels.data());
  }
  state.counters["queries_per_second"] = benchmark::Counter(
      static_cast<double>(state.iterations() * batch), benchmark::Counter::kIsRate);
}

// Args: {index type (0 FLAT, 1 IVF, 2 HNSW), users per call}.
void Shapes(benchmark::internal::Benchmark* b) {
  for (int type : {0, 1, 2}) {
    b->Args({type, 1});
    b->Args({type, 512});
  }
  b->ArgNames({"index", "batch"})->UseRealTime()->MinTime(2.0);
}

BENCHMARK(BM_RankBatch)->Apply(Shapes);
BENCHMARK(BM_RawFaissSearch)->Apply(Shapes);

}  // namespace
}  // namespace feedloop::ranker

BENCHMARK_MAIN();
