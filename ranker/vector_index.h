// VectorIndex: nearest-neighbour search by inner product over a changing set
// of items, on FAISS. FAISS stays behind this interface: its exceptions are
// caught here and become a Status.
//
//   VectorIndex::Options options;
//   options.type = VectorIndex::Type::kHnsw;
//   options.dim = 64;
//   FEEDLOOP_ASSIGN_OR_RETURN(auto index, VectorIndex::Create(options));
//   FEEDLOOP_RETURN_IF_ERROR(index->Add(ids, vectors));
//   FEEDLOOP_RETURN_IF_ERROR(index->Remove(expired_ids));
//   std::vector<Neighbors> out;
//   FEEDLOOP_RETURN_IF_ERROR(index->Search(queries, /*k=*/100, &out));
//
// One mechanism for all three types: FAISS holds the vectors at sequential
// positions (the only copy: rows are read back from the index, through a
// direct map for a trained IVF); this class maps positions to item ids and
// marks removed items dead. Searches over-fetch and drop dead entries, so removed items are never
// returned; once the dead share passes Options::rebuild_dead_fraction the
// FAISS index is rebuilt from the live items (HNSW cannot delete at all; for
// IVF the rebuild also retrains the centroids on the current content).
//
// HNSW orders by L2 distance, which equals inner-product order only for
// unit item vectors: feed it unit vectors (the store guarantees that for
// items). Scores are always exact inner products.
//
// Every operation is deterministic: the same calls give the same results,
// whatever the thread counts (HNSW inserts run single-threaded for that).
//
// Thread-safe. Searches share a reader lock and run concurrently; Add,
// Remove and rebuilds take the writer lock.

#ifndef FEEDLOOP_RANKER_VECTOR_INDEX_H_
#define FEEDLOOP_RANKER_VECTOR_INDEX_H_

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace faiss {
struct Index;
struct IndexFlatCodes;
}  // namespace faiss

namespace feedloop::ranker {

// One query's results, best first.
struct Neighbors {
  std::vector<uint64_t> ids;
  std::vector<float> scores;  // inner products
};

// The inverted lists an IVF index of n items gets when ivf_nlist is 0: the
// largest power of two at most 4 * sqrt(n) (the low end of FAISS's advice
// of 4 to 16 * sqrt(n)), in [16, 65536].
uint32_t IvfListsFor(size_t n);

class VectorIndex {
 public:
  // What an IVF index trained to: lists, lists probed, the recall@k its
  // calibration measured (0 when nprobe was given), and the live items it
  // trained at. All zero before training.
  struct IvfShape {
    uint32_t nlist = 0, nprobe = 0;
    double recall = 0;
    size_t trained_at = 0;
  };

  enum class Type { kFlat, kIvf, kHnsw };

  struct Options {
    // Default: kFlat.
    Type type = Type::kFlat;
    // Vector dimension. Required, in [1, 4096].
    uint32_t dim = 0;
    // IVF: inverted lists; the index trains once it holds
    // ivf_train_factor * nlist items and searches exactly before that. 0:
    // follows the index size, IvfListsFor(live items) at each training,
    // and the index retrains once it has grown ivf_regrow_factor times
    // past the size it trained at. Default: 0.
    uint32_t ivf_nlist = 0;
    // IVF: lists probed per query, in [1, nlist]. 0: calibrated at each
    // training, the smallest of 1, 2, 3, 4, 6, 8, 12, 16, ... whose
    // recall@ivf_calibration_k on
    // a seeded sample of ivf_calibration_queries indexed items, against
    // exact search, reaches ivf_target_recall. Default: 0.
    uint32_t ivf_nprobe = 0;
    // Default: 0.9, 100 (the ranker's candidates), 256, 4.
    double ivf_target_recall = 0.9;
    uint32_t ivf_calibration_k = 100;
    uint32_t ivf_calibration_queries = 256;
    double ivf_regrow_factor = 4;
    // IVF: training points per list (FAISS warns below 39). Default: 39.
    uint32_t ivf_train_factor = 39;
    // HNSW: neighbours per node, in [4, 128]. Default: 32.
    uint32_t hnsw_m = 32;
    // HNSW: search beam (raised to k when k is larger). Default: 128.
    uint32_t hnsw_ef_search = 128;
    // HNSW: construction beam. Default: 64.
    uint32_t hnsw_ef_construction = 64;
    // Rebuild once this share of FAISS entries is dead, in (0, 1].
    // Default: 0.5.
    double rebuild_dead_fraction = 0.5;
    // FLAT compacts once this share is dead instead: its rebuild is one copy
    // of the live rows, while every search pays for each dead row it scans
    // (with items living T rounds, dead rows pile up to the live count
    // between rebuilds at 0.5, and a round's search time with them). In
    // (0, 1]. Default: 0.05.
    double flat_compact_fraction = 0.05;
    // OpenMP threads FAISS may use inside one Search call; 0 leaves
    // FAISS's default (one per core). Default: 0.
    int search_threads = 0;
    // Seed of IVF training samples and k-means. Default: 1.
    uint64_t seed = 1;
  };

  // INVALID_ARGUMENT naming the bad option.
  static absl::StatusOr<std::unique_ptr<VectorIndex>> Create(
      const Options& options);
  ~VectorIndex();

  VectorIndex(const VectorIndex&) = delete;
  VectorIndex& operator=(const VectorIndex&) = delete;

  // Adds items: `vectors` holds ids.size() rows of dim floats, each finite.
  // INVALID_ARGUMENT for a size mismatch, a non-finite value, or an id
  // already live (in the index or twice in the call); nothing is added then.
  absl::Status Add(std::span<const uint64_t> ids, std::span<const float> vectors);

  // Removes items; ids not live are ignored. May trigger a rebuild.
  absl::Status Remove(std::span<const uint64_t> ids);

  // The k best live items by inner product for each row of `queries`
  // (rows of dim floats). Fewer than k when fewer items are live. Results
  // are ordered by score, then by id.
  absl::Status Search(std::span<const float> queries, size_t k,
                      std::vector<Neighbors>* out) const;

  // The stored vector of a live item, or nullptr. Valid until the next
  // Add, Remove or rebuild.
  const float* Vector(uint64_t id) const;

  size_t live() const;
  // FAISS entries, dead ones included.
  size_t entries() const;
  // Rebuilds done so far.
  uint64_t rebuilds() const;
  // False for IVF until it has trained (it searches exactly before).
  bool trained() const;
  IvfShape ivf_shape() const;
  const Options& options() const { return options_; }

 private:
  explicit VectorIndex(const Options& options);

  // Makes the FAISS index for the current live set (empty when none) and
  // compacts the positions. Positions from `first` on are not in the index
  // yet: their rows are `pending`. Nothing changes when the build fails.
  absl::Status RebuildLocked(std::span<const float> pending, size_t first)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The row at a FAISS position (live or dead), in the index.
  const float* RowLocked(size_t pos) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // The live rows in position order (rows from `first` on from `pending`).
  std::vector<float> LiveRowsLocked(std::span<const float> pending, size_t first) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Appends rows to the FAISS index.
  absl::Status AddToFaissLocked(const float* rows, size_t n)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Whether the IVF index must (re)train now: untrained and holding 39
  // lists' worth, or outgrown the lists it trained with.
  bool NeedsTrainingLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // The lists an IVF of n items trains with.
  uint32_t ListsFor(size_t n) const;
  // Sets the trained IVF's nprobe: given, or calibrated on a sample.
  // `rows` are the index's rows in position order.
  absl::Status CalibrateLocked(std::span<const float> rows)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status SearchLocked(std::span<const float> queries, size_t fetch,
                            std::vector<float>* scores,
                            std::vector<int64_t>* positions) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  // Constant after construction.
  const Options options_;

  mutable absl::Mutex mu_;
  std::unique_ptr<faiss::Index> index_ ABSL_GUARDED_BY(mu_);
  // Whether index_ is the trained IVF (as opposed to the exact stand-in).
  bool ivf_trained_ ABSL_GUARDED_BY(mu_) = false;
  IvfShape ivf_shape_ ABSL_GUARDED_BY(mu_);
  // Per FAISS position: the item id, and whether it is dead.
  std::vector<uint64_t> position_id_ ABSL_GUARDED_BY(mu_);
  std::vector<bool> dead_ ABSL_GUARDED_BY(mu_);
  size_t dead_count_ ABSL_GUARDED_BY(mu_) = 0;
  // Live items: id -> FAISS position.
  absl::flat_hash_map<uint64_t, uint32_t> position_of_ ABSL_GUARDED_BY(mu_);
  // Where index_ keeps its rows by position, unless it is a trained IVF:
  // itself, or an HNSW's storage.
  const faiss::IndexFlatCodes* flat_codes_ ABSL_GUARDED_BY(mu_) = nullptr;
  uint64_t rebuilds_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace feedloop::ranker

#endif  // FEEDLOOP_RANKER_VECTOR_INDEX_H_
