#include "ranker/vector_index.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/random.h"
#include "common/status.h"
#include "faiss/IndexFlat.h"
#include "faiss/IndexHNSW.h"
#include "faiss/IndexIVFFlat.h"
#include "faiss/impl/FaissException.h"
#include "faiss/invlists/DirectMap.h"
#include "faiss/invlists/InvertedLists.h"
#include "faiss/utils/distances.h"
#include "glog/logging.h"
#include "ranker/distance.h"

namespace feedloop::ranker {
namespace {

// Sets this thread's OpenMP team size for FAISS calls made in scope.
class ScopedOmpThreads {
 public:
  explicit ScopedOmpThreads(int n) : previous_(omp_get_max_threads()) {
    if (n > 0) omp_set_num_threads(n);
  }
  ~ScopedOmpThreads() { omp_set_num_threads(previous_); }

 private:
  const int previous_;
};

// FAISS reports errors by throwing; they stop here.
template <typename Fn>
absl::Status CallFaiss(absl::string_view what, Fn fn) {
  try {
    fn();
    return absl::OkStatus();
  } catch (const faiss::FaissException& e) {
    return absl::InternalError(absl::StrCat("faiss ", what, ": ", e.what()));
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat("faiss ", what, ": ", e.what()));
  }
}

// IVF trains on at most this many points per list (FAISS caps at 256 and
// warns below 39). Measured at 1M items, 2,048 lists, d 64
// (loop_round_bench, side by side): 64 gives the same calibrated nprobe
// (16) and recall@100 (0.919 against 0.914 at 256) and the index stage
// 52 -> 37 s; k-means cost is linear in the sample, which is what stands
// between a 10M-item index and this machine.
constexpr size_t kMaxTrainPointsPerList = 64;

}  // namespace

absl::StatusOr<std::unique_ptr<VectorIndex>> VectorIndex::Create(
    const Options& options) {
  if (options.dim == 0 || options.dim > 4096) {
    return absl::InvalidArgumentError(
        absl::StrCat("index.dim: must be in [1, 4096], got ", options.dim));
  }
  if (options.ivf_nlist > 65536) {
    return absl::InvalidArgumentError(absl::StrCat(
        "index.ivf_nlist: must be in [0, 65536], got ", options.ivf_nlist));
  }
  if (options.ivf_nprobe > (options.ivf_nlist == 0 ? 65536 : options.ivf_nlist)) {
    return absl::InvalidArgumentError(
        absl::StrCat("index.ivf_nprobe: must be in [0, ivf_nlist=",
                     options.ivf_nlist, "], got ", options.ivf_nprobe));
  }
  if (!(options.ivf_target_recall > 0 && options.ivf_target_recall <= 1) ||
      options.ivf_calibration_k == 0 || options.ivf_calibration_queries == 0 ||
      !(options.ivf_regrow_factor > 1)) {
    return absl::InvalidArgumentError(
        "index.ivf_target_recall must be in (0, 1], ivf_calibration_k and "
        "ivf_calibration_queries positive, ivf_regrow_factor above 1");
  }
  if (options.ivf_train_factor == 0) {
    return absl::InvalidArgumentError("index.ivf_train_factor: must be >= 1");
  }
  if (options.hnsw_m < 4 || options.hnsw_m > 128) {
    return absl::InvalidArgumentError(
        absl::StrCat("index.hnsw_m: must be in [4, 128], got ", options.hnsw_m));
  }
  if (options.hnsw_ef_search == 0 || options.hnsw_ef_construction == 0) {
    return absl::InvalidArgumentError("index.hnsw_ef_*: must be positive");
  }
  if (!(options.flat_compact_fraction > 0 && options.flat_compact_fraction <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("index.flat_compact_fraction: must be in (0, 1], got ",
                     options.flat_compact_fraction));
  }
  if (!(options.rebuild_dead_fraction > 0 &&
        options.rebuild_dead_fraction <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("index.rebuild_dead_fraction: must be in (0, 1], got ",
                     options.rebuild_dead_fraction));
  }
  std::unique_ptr<VectorIndex> index(new VectorIndex(options));
  absl::MutexLock lock(&index->mu_);
  FEEDLOOP_RETURN_IF_ERROR(index->RebuildLocked({}, 0));
  index->rebuilds_ = 0;
  return index;
}

uint32_t IvfListsFor(size_t n) {
  const double limit = 4 * std::sqrt(static_cast<double>(n));
  uint32_t lists = 16;
  while (lists < 65536 && 2.0 * lists <= limit) lists *= 2;
  return lists;
}

VectorIndex::VectorIndex(const Options& options) : options_(options) {}

uint32_t VectorIndex::ListsFor(size_t n) const {
  return options_.ivf_nlist != 0 ? options_.ivf_nlist : IvfListsFor(n);
}
VectorIndex::~VectorIndex() = default;

namespace {

// Where a FAISS index of ours keeps its rows by position, or null (a
// trained IVF keeps them in its lists).
const faiss::IndexFlatCodes* FlatCodesOf(const faiss::Index* index) {
  if (const auto* hnsw = dynamic_cast<const faiss::IndexHNSW*>(index)) {
    return dynamic_cast<const faiss::IndexFlatCodes*>(hnsw->storage);
  }
  return dynamic_cast<const faiss::IndexFlatCodes*>(index);
}

}  // namespace

const float* VectorIndex::RowLocked(size_t pos) const {
  const size_t dim = options_.dim;
  if (ivf_trained_) {
    const auto* ivf = static_cast<const faiss::IndexIVFFlat*>(index_.get());
    const faiss::Index::idx_t lo = ivf->direct_map.get(static_cast<faiss::Index::idx_t>(pos));
    return reinterpret_cast<const float*>(ivf->invlists->get_codes(faiss::lo_listno(lo))) +
           static_cast<size_t>(faiss::lo_offset(lo)) * dim;
  }
  return reinterpret_cast<const float*>(flat_codes_->codes.data()) + pos * dim;
}

std::vector<float> VectorIndex::LiveRowsLocked(std::span<const float> pending,
                                               size_t first) const {
  const size_t dim = options_.dim;
  std::vector<float> rows;
  rows.reserve(position_of_.size() * dim);
  for (size_t pos = 0; pos < position_id_.size(); ++pos) {
    if (dead_[pos]) continue;
    const float* row = pos < first ? RowLocked(pos) : pending.data() + (pos - first) * dim;
    rows.insert(rows.end(), row, row + dim);
  }
  return rows;
}

absl::Status VectorIndex::RebuildLocked(std::span<const float> pending, size_t first) {
  const size_t dim = options_.dim;
  // The live rows in position order, read from the index (it keeps the
  // only copy) and from `pending`; no copy when they are all pending.
  std::vector<float> gathered;
  std::span<const float> rows = pending;
  if (first != 0 || dead_count_ != 0 || pending.size() != position_id_.size() * dim) {
    gathered = LiveRowsLocked(pending, first);
    rows = gathered;
  }
  const size_t n = rows.size() / dim;
  const uint64_t rebuild = rebuilds_ + 1;  // seeds the training and calibration
  std::unique_ptr<faiss::Index> index;
  bool trained = false;
  uint32_t nlist = 0;
  FEEDLOOP_RETURN_IF_ERROR(CallFaiss("build", [&] {
    switch (options_.type) {
      case Type::kFlat:
        index = std::make_unique<faiss::IndexFlatIP>(dim);
        break;
      case Type::kHnsw: {
        // HNSW graphs assume a metric; FAISS's HNSW under inner product
        // loses recall (0.79 at recall@10 in our test, against 0.9+ under
        // L2). Item vectors are unit, so L2 order equals inner-product
        // order, and Search rescores hits by exact inner product.
        // IndexHNSWFlat's own storage, with a vectorized distance
        // (ranker/distance.h).
        auto hnsw = std::make_unique<faiss::IndexHNSW>(
            MakeFastFlatL2(static_cast<int>(dim)).release(), options_.hnsw_m);
        hnsw->own_fields = true;
        hnsw->hnsw.efConstruction = options_.hnsw_ef_construction;
        hnsw->hnsw.efSearch = options_.hnsw_ef_search;
        index = std::move(hnsw);
        break;
      }
      case Type::kIvf: {
        nlist = ListsFor(n);
        if (n < size_t{options_.ivf_train_factor} * nlist) {
          index = std::make_unique<faiss::IndexFlatIP>(dim);  // exact for now
          break;
        }
        auto quantizer = std::make_unique<faiss::IndexFlatIP>(dim);
        auto ivf = std::make_unique<faiss::IndexIVFFlat>(
            quantizer.release(), dim, nlist, faiss::METRIC_INNER_PRODUCT);
        ivf->own_fields = true;
        ivf->nprobe = std::min(nlist, std::max<uint32_t>(1, options_.ivf_nprobe));
        ivf->cp.seed = static_cast<int>(options_.seed & 0x7fffffff);
        ivf->cp.verbose = false;
        // A seeded sample, in position order, so training is reproducible.
        const size_t cap = kMaxTrainPointsPerList * nlist;
        std::vector<float> sample;
        const float* train_rows = rows.data();
        size_t train_n = n;
        if (n > cap) {
          Rng rng(DeriveSeed(options_.seed, 0x1f7, rebuild));
          std::vector<uint64_t> picks = rng.SampleWithoutReplacement(n, cap);
          std::sort(picks.begin(), picks.end());
          sample.reserve(cap * dim);
          for (uint64_t p : picks) {
            sample.insert(sample.end(), rows.begin() + p * dim, rows.begin() + (p + 1) * dim);
          }
          train_rows = sample.data();
          train_n = cap;
        }
        ScopedOmpThreads threads(1);  // reproducible k-means
        ivf->train(static_cast<faiss::Index::idx_t>(train_n), train_rows);
        trained = true;
        index = std::move(ivf);
        break;
      }
    }
  }));
  // Built: now the positions are compacted (live rows in their order).
  if (dead_count_ > 0) {
    std::vector<uint64_t> ids;
    ids.reserve(position_of_.size());
    for (size_t pos = 0; pos < position_id_.size(); ++pos) {
      if (!dead_[pos]) ids.push_back(position_id_[pos]);
    }
    position_id_ = std::move(ids);
    dead_.assign(position_id_.size(), false);
    dead_count_ = 0;
    position_of_.clear();
    for (size_t pos = 0; pos < position_id_.size(); ++pos) {
      position_of_[position_id_[pos]] = static_cast<uint32_t>(pos);
    }
  }
  rebuilds_ = rebuild;
  if (trained) {
    // Rows are read back by position: position -> (list, offset).
    static_cast<faiss::IndexIVFFlat*>(index.get())->make_direct_map(true);
  }
  index_ = std::move(index);
  ivf_trained_ = trained;
  flat_codes_ = FlatCodesOf(index_.get());
  ivf_shape_ = IvfShape();
  FEEDLOOP_RETURN_IF_ERROR(AddToFaissLocked(rows.data(), n));
  if (!trained) return absl::OkStatus();
  ivf_shape_.nlist = nlist;
  ivf_shape_.trained_at = n;
  return CalibrateLocked(rows);
}

absl::Status VectorIndex::CalibrateLocked(std::span<const float> rows) {
  auto* ivf = static_cast<faiss::IndexIVFFlat*>(index_.get());
  const uint32_t nlist = ivf_shape_.nlist;
  if (options_.ivf_nprobe != 0) {
    ivf_shape_.nprobe = static_cast<uint32_t>(ivf->nprobe);
    return absl::OkStatus();
  }
  // Queries: a seeded sample of the indexed items; truth: exact search
  // over the same rows (no copy of them).
  const size_t dim = options_.dim;
  const size_t n = position_id_.size();
  const size_t q = std::min<size_t>(options_.ivf_calibration_queries, n);
  const size_t k = std::min<size_t>(options_.ivf_calibration_k, n);
  Rng rng(DeriveSeed(options_.seed, 0xca1b, rebuilds_));
  const float* all = rows.data();
  std::vector<float> queries;
  queries.reserve(q * dim);
  for (uint64_t p : rng.SampleWithoutReplacement(n, q)) {
    queries.insert(queries.end(), all + p * dim, all + (p + 1) * dim);
  }
  std::vector<float> exact_scores(q * k), scores(q * k);
  std::vector<int64_t> exact(q * k), found(q * k);
  FEEDLOOP_RETURN_IF_ERROR(CallFaiss("calibrate", [&] {
    faiss::knn_inner_product(queries.data(), all, dim, q, n, k,
                             exact_scores.data(), exact.data());
  }));
  std::vector<std::vector<int64_t>> truth(q);
  for (size_t i = 0; i < q; ++i) {
    truth[i].assign(exact.begin() + i * k, exact.begin() + (i + 1) * k);
    std::sort(truth[i].begin(), truth[i].end());
  }
  // 1, 2, 3, 4, 6, 8, 12, 16, ...: steps of 1.5x and 4/3x, so the probes
  // chosen overshoot the target by less than doubling would.
  auto next = [&](uint32_t p) {
    const uint32_t up = p < 2 ? p + 1 : ((p & (p - 1)) == 0 ? p / 2 * 3 : p / 3 * 4);
    return std::min(nlist, up);
  };
  for (uint32_t nprobe = 1;; nprobe = next(nprobe)) {
    ivf->nprobe = nprobe;
    FEEDLOOP_RETURN_IF_ERROR(CallFaiss("calibrate", [&] {
      ivf->search(static_cast<faiss::Index::idx_t>(q), queries.data(),
                  static_cast<faiss::Index::idx_t>(k), scores.data(), found.data());
    }));
    size_t hits = 0;
    for (size_t i = 0; i < q; ++i) {
      for (size_t j = 0; j < k; ++j) {
        hits += std::binary_search(truth[i].begin(), truth[i].end(), found[i * k + j]);
      }
    }
    const double recall = static_cast<double>(hits) / static_cast<double>(q * k);
    if (recall >= options_.ivf_target_recall || nprobe == nlist) {
      ivf_shape_.nprobe = nprobe;
      ivf_shape_.recall = recall;
      VLOG(1) << "ivf: " << nlist << " lists over " << n << " items; nprobe " << nprobe
              << " gives recall@" << k << " " << recall << " on " << q << " sampled items";
      return absl::OkStatus();
    }
  }
}

absl::Status VectorIndex::AddToFaissLocked(const float* rows, size_t n) {
  if (n == 0) return absl::OkStatus();
  // HNSW inserts in parallel give a graph that depends on thread timing.
  ScopedOmpThreads threads(options_.type == Type::kHnsw ? 1 : options_.search_threads);
  auto* lists = ivf_trained_ ? dynamic_cast<faiss::ArrayInvertedLists*>(
                                   static_cast<faiss::IndexIVFFlat*>(index_.get())->invlists)
                             : nullptr;
  if (lists == nullptr) {
    return CallFaiss("add", [&] { index_->add(static_cast<faiss::Index::idx_t>(n), rows); });
  }
  // FAISS appends to a list entry by entry, so its lists grow by doubling
  // and hold up to twice their rows. Assign
  // first, size each list for exactly what it receives, then add with the
  // assignment: one quantizer pass, as add() itself makes.
  auto* ivf = static_cast<faiss::IndexIVFFlat*>(index_.get());
  return CallFaiss("add", [&] {
    std::vector<faiss::Index::idx_t> assign(n);
    ivf->quantizer->assign(static_cast<faiss::Index::idx_t>(n), rows, assign.data());
    std::vector<size_t> grow(lists->nlist, 0);
    for (faiss::Index::idx_t l : assign) {
      if (l >= 0) ++grow[static_cast<size_t>(l)];
    }
    for (size_t l = 0; l < lists->nlist; ++l) {
      if (grow[l] == 0) continue;
      const size_t size = lists->ids[l].size() + grow[l];
      lists->ids[l].reserve(size);
      lists->codes[l].reserve(size * lists->code_size);
    }
    ivf->add_core(static_cast<faiss::Index::idx_t>(n), rows, nullptr, assign.data());
  });
}

bool VectorIndex::NeedsTrainingLocked() const {
  if (options_.type != Type::kIvf) return false;
  const size_t live = position_of_.size();
  if (ivf_trained_) {
    // Lists that follow the size: retrain once the index has outgrown them.
    return options_.ivf_nlist == 0 &&
           static_cast<double>(live) >
               options_.ivf_regrow_factor * static_cast<double>(ivf_shape_.trained_at);
  }
  return live >= size_t{options_.ivf_train_factor} * ListsFor(live);
}

VectorIndex::IvfShape VectorIndex::ivf_shape() const {
  absl::ReaderMutexLock lock(&mu_);
  return ivf_shape_;
}

absl::Status VectorIndex::Add(std::span<const uint64_t> ids,
                              std::span<const float> vectors) {
  const size_t dim = options_.dim;
  if (vectors.size() != ids.size() * dim) {
    return absl::InvalidArgumentError(
        absl::StrCat("vectors: ", vectors.size(), " values for ", ids.size(),
                     " ids of dimension ", dim));
  }
  for (size_t i = 0; i < vectors.size(); ++i) {
    if (!std::isfinite(vectors[i])) {
      return absl::InvalidArgumentError(absl::StrCat(
          "vectors[row ", i / dim, "][", i % dim, "]: is not finite"));
    }
  }
  absl::MutexLock lock(&mu_);
  absl::flat_hash_set<uint64_t> seen;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (position_of_.contains(ids[i]) || !seen.insert(ids[i]).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("ids[", i, "]: item ", ids[i], " is already indexed"));
    }
  }
  const size_t first = position_id_.size();
  for (size_t i = 0; i < ids.size(); ++i) {
    position_id_.push_back(ids[i]);
    dead_.push_back(false);
    position_of_[ids[i]] = static_cast<uint32_t>(first + i);
  }
  // An add that makes the IVF index (re)train goes straight into the new
  // index: adding it to the old one first would hold every row in both.
  if (NeedsTrainingLocked()) {
    const faiss::Index* old = index_.get();
    absl::Status trained = RebuildLocked(vectors, first);
    if (trained.ok() || index_.get() != old) return trained;
    // Training failed before the old index was replaced (nothing else
    // changed then): keep it, with the new rows, so that our maps and
    // FAISS agree.
    FEEDLOOP_RETURN_IF_ERROR(AddToFaissLocked(vectors.data(), ids.size()));
    return trained;
  }
  absl::Status s = AddToFaissLocked(vectors.data(), ids.size());
  if (!s.ok()) {
    // FAISS refused: take the rows back out and rebuild so that our maps
    // and FAISS agree again.
    for (uint64_t id : ids) position_of_.erase(id);
    for (size_t pos = first; pos < position_id_.size(); ++pos) {
      dead_[pos] = true;
      ++dead_count_;
    }
    FEEDLOOP_RETURN_IF_ERROR(RebuildLocked({}, position_id_.size()));
    return s;
  }
  return absl::OkStatus();
}

absl::Status VectorIndex::Remove(std::span<const uint64_t> ids) {
  absl::MutexLock lock(&mu_);
  for (uint64_t id : ids) {
    auto it = position_of_.find(id);
    if (it == position_of_.end()) continue;
    dead_[it->second] = true;
    ++dead_count_;
    position_of_.erase(it);
  }
  if (dead_count_ > 0 &&
      static_cast<double>(dead_count_) >
          (options_.type == Type::kFlat ? options_.flat_compact_fraction
                                        : options_.rebuild_dead_fraction) *
              static_cast<double>(position_id_.size())) {
    return RebuildLocked({}, position_id_.size());
  }
  return absl::OkStatus();
}

absl::Status VectorIndex::SearchLocked(std::span<const float> queries,
                                       size_t fetch, std::vector<float>* scores,
                                       std::vector<int64_t>* positions) const {
  const size_t nq = queries.size() / options_.dim;
  scores->assign(nq * fetch, 0.0f);
  positions->assign(nq * fetch, -1);
  // Never more OpenMP threads than queries: FAISS parallelizes a search
  // over its queries, so extra threads only spin, and a server running one
  // search per core would oversubscribe the cores with them. Measured
  // (bench/serving_bench, IVF 100k, one run each): single-user Rank +60%
  // in-process and +70% served, against FAISS's team of one thread per core.
  const int team = options_.search_threads > 0 ? options_.search_threads
                                               : omp_get_max_threads();
  ScopedOmpThreads threads(static_cast<int>(std::min<size_t>(team, std::max<size_t>(nq, 1))));
  return CallFaiss("search", [&] {
    static_assert(sizeof(faiss::Index::idx_t) == sizeof(int64_t));
    auto* labels = reinterpret_cast<faiss::Index::idx_t*>(positions->data());
    // No per-call SearchParametersHNSW: FAISS 1.7.3 ignores its efSearch
    // (measured: recall flat from ef 16 to 512), so the beam is the index's
    // own hnsw.efSearch, fixed at build time; FAISS widens it to k itself.
    index_->search(static_cast<faiss::Index::idx_t>(nq), queries.data(),
                   static_cast<faiss::Index::idx_t>(fetch), scores->data(),
                   labels);
  });
}

absl::Status VectorIndex::Search(std::span<const float> queries, size_t k,
                                 std::vector<Neighbors>* out) const {
  const size_t dim = options_.dim;
  if (queries.size() % dim != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("queries: ", queries.size(),
                     " values, not a multiple of the dimension ", dim));
  }
  for (size_t i = 0; i < queries.size(); ++i) {
    if (!std::isfinite(queries[i])) {
      return absl::InvalidArgumentError(absl::StrCat(
          "queries[row ", i / dim, "][", i % dim, "]: is not finite"));
    }
  }
  const size_t nq = queries.size() / dim;
  out->assign(nq, Neighbors());
  if (nq == 0 || k == 0) return absl::OkStatus();

  absl::ReaderMutexLock lock(&mu_);
  const size_t entries = position_id_.size();
  const size_t live = position_of_.size();
  if (live == 0) return absl::OkStatus();
  const size_t want = std::min(k, live);
  // Over-fetch by the dead share, plus slack; widen until every query has
  // `want` live results or everything was fetched.
  const double live_share = static_cast<double>(live) / entries;
  size_t fetch = std::min(
      entries, static_cast<size_t>(std::ceil(want / live_share)) + 16);
  // Queries still short of `want` live results, searched again with a
  // doubled fetch: only those, so one query near many expired items does not
  // make the whole batch search again.
  std::vector<size_t> pending(nq);
  for (size_t q = 0; q < nq; ++q) pending[q] = q;
  std::vector<float> batch;
  std::vector<float> scores;
  std::vector<int64_t> positions;
  while (!pending.empty()) {
    std::span<const float> rows = queries;
    if (pending.size() != nq) {
      batch.clear();
      for (size_t q : pending) {
        batch.insert(batch.end(), queries.begin() + q * dim,
                     queries.begin() + (q + 1) * dim);
      }
      rows = batch;
    }
    FEEDLOOP_RETURN_IF_ERROR(SearchLocked(rows, fetch, &scores, &positions));
    std::vector<size_t> still_short;
    for (size_t i = 0; i < pending.size(); ++i) {
      const size_t q = pending[i];
      Neighbors& n = (*out)[q];
      n.ids.clear();
      n.scores.clear();
      std::vector<std::pair<float, uint64_t>> hits;
      const float* query = queries.data() + q * dim;
      for (size_t j = 0; j < fetch; ++j) {
        const int64_t pos = positions[i * fetch + j];
        if (pos < 0 || dead_[pos]) continue;
        // The exact inner product from our row: HNSW searches by L2, and
        // one formula for every type keeps scores comparable.
        const float* row = RowLocked(static_cast<size_t>(pos));
        float ip = 0;
        for (size_t d = 0; d < dim; ++d) ip += query[d] * row[d];
        hits.emplace_back(ip, position_id_[pos]);
      }
      std::sort(hits.begin(), hits.end(), [](const auto& a, const auto& b) {
        return a.first != b.first ? a.first > b.first : a.second < b.second;
      });
      if (hits.size() > want) hits.resize(want);
      if (hits.size() < want && fetch < entries) still_short.push_back(q);
      for (const auto& [score, id] : hits) {
        n.ids.push_back(id);
        n.scores.push_back(score);
      }
    }
    pending.swap(still_short);
    fetch = std::min(entries, fetch * 2);
  }
  return absl::OkStatus();
}

const float* VectorIndex::Vector(uint64_t id) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = position_of_.find(id);
  if (it == position_of_.end()) return nullptr;
  return RowLocked(it->second);
}

size_t VectorIndex::live() const {
  absl::ReaderMutexLock lock(&mu_);
  return position_of_.size();
}

size_t VectorIndex::entries() const {
  absl::ReaderMutexLock lock(&mu_);
  return position_id_.size();
}

uint64_t VectorIndex::rebuilds() const {
  absl::ReaderMutexLock lock(&mu_);
  return rebuilds_;
}

bool VectorIndex::trained() const {
  absl::ReaderMutexLock lock(&mu_);
  return options_.type != Type::kIvf || ivf_trained_;
}

}  // namespace feedloop::ranker
