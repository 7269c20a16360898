// Concurrency of the ranker's index: searches from several threads while
// another thread keeps adding and removing. Built into its own binary with
// the 'concurrency' label so that ./dev tsan runs it under ThreadSanitizer.

#include <atomic>
#include <thread>

#include "common/random.h"
#include "common/vectors.h"
#include "gtest/gtest.h"
#include "ranker/vector_index.h"
#include "testing/status_matchers.h"

namespace feedloop::ranker {
namespace {

constexpr uint32_t kDim = 16;

std::vector<float> RandomUnitRows(Rng& rng, size_t n) {
  std::vector<float> v(n * kDim);
  for (float& x : v) x = static_cast<float>(rng.Normal());
  for (size_t i = 0; i < n; ++i) Normalize(std::span<float>(&v[i * kDim], kDim));
  return v;
}

// Searches from several threads while another thread keeps adding and
// removing: run under ThreadSanitizer with ./dev tsan.
TEST(RankerConcurrency, SearchesRunWhileItemsAreAdded) {
  for (auto type : {VectorIndex::Type::kFlat, VectorIndex::Type::kHnsw,
                    VectorIndex::Type::kIvf}) {
    VectorIndex::Options o;
    o.type = type;
    o.dim = kDim;
    o.ivf_nlist = 8;
    o.ivf_nprobe = 4;
    o.search_threads = 1;
    ASSERT_OK_AND_ASSIGN(auto index, VectorIndex::Create(o));
    Rng writer_rng(3);
    std::atomic<bool> stop{false};
    std::atomic<int> searches{0};
    std::vector<std::thread> readers;
    for (int t = 0; t < 3; ++t) {
      readers.emplace_back([&, t] {
        Rng rng(t);
        std::vector<float> q(kDim);
        while (!stop.load()) {
          for (float& x : q) x = static_cast<float>(rng.Normal());
          std::vector<Neighbors> out;
          ASSERT_OK(index->Search(q, 10, &out));
          for (uint64_t id : out[0].ids) ASSERT_NE(id, 0u);
          searches.fetch_add(1);
        }
      });
    }
    std::vector<uint64_t> previous;
    for (uint32_t round = 0; round < 30; ++round) {
      std::vector<uint64_t> ids;
      for (uint64_t i = 1; i <= 100; ++i) ids.push_back((uint64_t{round} << 32) | i);
      std::vector<float> vecs = RandomUnitRows(writer_rng, ids.size());
      ASSERT_OK(index->Add(ids, vecs));
      if (!previous.empty()) {
        ASSERT_OK(index->Remove(previous));
      }
      previous = ids;
    }
    // Let the readers overlap the writes at least a little, then stop.
    while (searches.load() < 10) std::this_thread::yield();
    stop = true;
    for (auto& t : readers) t.join();
    EXPECT_EQ(index->live(), 100u);
  }
}

}  // namespace
}  // namespace feedloop::ranker
