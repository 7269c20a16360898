// Concurrency of the ranker's index: searches from several threads while
// another thread keeps adding and removing. Built into its own binary with
// the 'concurrency' label, so that it can run under ThreadSanitizer in a
// build configured with -DCMAKE_CXX_FLAGS=-fsanitize=thread
// (ctest -L concurrency there).

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
// removing. The writer waits for a search after each of its writes, so the
// reads provably interleave with the writes; every answer must be sound:
// at most k distinct ids, each one the writer added, best first.
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
    std::atomic<int> bad{0};
    std::vector<std::thread> readers;
    for (int t = 0; t < 3; ++t) {
      readers.emplace_back([&, t] {
        Rng rng(t);
        std::vector<float> q(kDim);
        while (!stop.load()) {
          for (float& x : q) x = static_cast<float>(rng.Normal());
          std::vector<Neighbors> out;
          if (!index->Search(q, 10, &out).ok() || out.size() != 1) {
            bad.fetch_add(1);
            continue;
          }
          const Neighbors& n = out[0];
          bool sound = n.ids.size() <= 10 && n.ids.size() == n.scores.size();
          for (size_t i = 0; sound && i < n.ids.size(); ++i) {
            const uint64_t round = n.ids[i] >> 32, item = n.ids[i] & 0xffffffffu;
            sound = round < 30 && item >= 1 && item <= 100 &&
                    (i == 0 || n.scores[i] <= n.scores[i - 1] + 1e-5f);
            for (size_t j = 0; sound && j < i; ++j) sound = n.ids[j] != n.ids[i];
          }
          if (!sound) bad.fetch_add(1);
          searches.fetch_add(1);
        }
      });
    }
    auto wait_for_a_search = [&] {
      const int seen = searches.load();
      while (searches.load() == seen) std::this_thread::yield();
    };
    std::vector<uint64_t> previous;
    int during_writes = 0;
    for (uint32_t round = 0; round < 30; ++round) {
      std::vector<uint64_t> ids;
      for (uint64_t i = 1; i <= 100; ++i) ids.push_back((uint64_t{round} << 32) | i);
      std::vector<float> vecs = RandomUnitRows(writer_rng, ids.size());
      const int before = searches.load();
      ASSERT_OK(index->Add(ids, vecs));
      wait_for_a_search();
      if (!previous.empty()) {
        ASSERT_OK(index->Remove(previous));
        wait_for_a_search();
      }
      during_writes += searches.load() - before;
      previous = ids;
    }
    stop = true;
    for (auto& t : readers) t.join();
    EXPECT_GE(during_writes, 59);  // at least one after each of the 59 writes
    EXPECT_EQ(bad.load(), 0);
    EXPECT_EQ(index->live(), 100u);
  }
}

}  // namespace
}  // namespace feedloop::ranker
