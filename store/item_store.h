// ItemStore: feedloop's durable state on RocksDB. Runs, items, interactions
// and metric series, each in its own column family (layout in keys.h).
//
//   ItemStore::Options options;
//   options.path = "runs/.data/store";
//   FEEDLOOP_ASSIGN_OR_RETURN(auto store, ItemStore::Open(options));
//   FEEDLOOP_RETURN_IF_ERROR(store->CreateRun(run));
//   FEEDLOOP_RETURN_IF_ERROR(store->Ingest(run.run_id(), request.items()));
//   FEEDLOOP_ASSIGN_OR_RETURN(auto cursor, store->ScanItems(run_id, 3, 7));
//
// Contract:
// - Every write is one WriteBatch: all of a call's data is written, or none.
// - A write returns OK only once it is in the write-ahead log, synced to disk
//   when Options::sync (the default). A process killed at any moment loses
//   no acknowledged write when reopened.
// - Bad input returns INVALID_ARGUMENT naming the element and field
//   ("items[3].embedding[7]: is NaN"), ALREADY_EXISTS for an id already
//   stored, NOT_FOUND for an unknown run or item; nothing is written then.
// - Storage failures return INTERNAL (corruption), UNAVAILABLE (I/O, retry)
//   or RESOURCE_EXHAUSTED (disk full).
//
// Thread-safe. Writes to one run are serialized (they check ids against what
// is stored); different runs write in parallel.

#ifndef FEEDLOOP_STORE_ITEM_STORE_H_
#define FEEDLOOP_STORE_ITEM_STORE_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "common/clock.h"
#include "absl/strings/string_view.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "feedloop/v1/diversity.pb.h"
#include "feedloop/v1/ingest.pb.h"
#include "feedloop/v1/types.pb.h"
#include "google/protobuf/repeated_field.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
class Iterator;
class Snapshot;
}  // namespace rocksdb

namespace feedloop::store {

// Reads a run's items in (round, id) order from a consistent snapshot.
// Not thread-safe; one reader at a time.
class ItemCursor {
 public:
  virtual ~ItemCursor() = default;
  // Appends up to `max` items to `out`. Returns false once the scan is done
  // (possibly after appending the last items).
  virtual absl::StatusOr<bool> Next(size_t max, std::vector<v1::Item>* out) = 0;
};

// Reads a run's interactions in (round, user, position) order.
class InteractionCursor {
 public:
  virtual ~InteractionCursor() = default;
  // Appends up to `max` interactions of a single round to `out` and sets
  // `round`. Returns false once the scan is done.
  virtual absl::StatusOr<bool> Next(size_t max, uint32_t* round,
                                    std::vector<v1::Interaction>* out) = 0;
};

class ItemStore {
 public:
  struct Options {
    // Folder of the database; created if missing. Required.
    std::string path;
    // Sync the write-ahead log to disk before acknowledging a write, so that
    // acknowledged data also survives a power loss or a kernel crash.
    // Without it, acknowledged data survives a process crash only.
    // Default: true.
    bool sync = true;
    // Most items in one Ingest. Default: 100000.
    size_t max_batch_items = 100000;
    // Most bytes of items one GetItems returns: a response must fit the
    // 64 MiB message limit. Default: 48 MiB.
    size_t max_response_bytes = size_t{48} << 20;
    // Most interactions in one LogInteractions. Default: 1000000.
    size_t max_batch_interactions = 1000000;
    // Most characters in an item title. Default: 1024.
    size_t max_title_length = 1024;
    // RocksDB block cache. Default: 64 MiB.
    size_t block_cache_bytes = 64 << 20;
    // All column families' memtables together (RocksDB's
    // db_write_buffer_size): the store's write memory is this plus the
    // block cache, whatever the rounds' size. Default: 64 MiB.
    size_t memtable_bytes = 64 << 20;
    // Times run records (created, started, finished) and leases; borrowed.
    // Default: the system clock.
    Clock* clock = Clock::Real();
  };

  // Opens (creating if needed) the database at options.path.
  // INVALID_ARGUMENT for a bad option, UNAVAILABLE when the folder cannot be
  // opened (for example, another process holds its lock).
  static absl::StatusOr<std::unique_ptr<ItemStore>> Open(const Options& options);

  ~ItemStore();
  ItemStore(const ItemStore&) = delete;
  ItemStore& operator=(const ItemStore&) = delete;

  // ---- Runs ----
  // Stores a new run record. run_id must be valid and unused
  // (ALREADY_EXISTS); status defaults to PENDING; created_unix_ms to now.
  absl::Status CreateRun(v1::RunRecord run);
  absl::StatusOr<v1::RunRecord> GetRun(absl::string_view run_id) const;
  // Sets status, rounds_done and error; stamps started/finished times on the
  // first RUNNING and on a final status. With update.owner, only the run's
  // owner may (FAILED_PRECONDITION otherwise), and a final status releases
  // the run.
  absl::StatusOr<v1::RunRecord> UpdateRun(const v1::UpdateRunRequest& update);
  // Gives the run to `owner` with a lease ending `lease` from now and makes
  // it RUNNING (IngestService.ClaimRun says when it is granted).
  absl::StatusOr<v1::RunRecord> ClaimRun(absl::string_view run_id,
                                         absl::string_view owner,
                                         absl::Duration lease);
  // Every run, newest first.
  absl::StatusOr<std::vector<v1::RunRecord>> ListRuns() const;

  // ---- Items ----
  // Stores `items` of run `run_id` atomically. Each must have a nonzero id
  // unique in the batch and in the run, a unit embedding of the run's
  // dimension with finite values, and a title within the limit. An item
  // already stored with exactly this content is skipped (a redone round
  // sends its items again); one stored with other content is
  // ALREADY_EXISTS.
  absl::Status Ingest(absl::string_view run_id,
                      const google::protobuf::RepeatedPtrField<v1::Item>& items);
  // Items by id, in the order asked. NOT_FOUND names the first unknown id.
  absl::StatusOr<std::vector<v1::Item>> GetItems(
      absl::string_view run_id, std::span<const uint64_t> ids) const;
  // Items with round in [round_from, round_to] (inclusive).
  absl::StatusOr<std::unique_ptr<ItemCursor>> ScanItems(
      absl::string_view run_id, uint32_t round_from, uint32_t round_to) const;

  // ---- Interactions ----
  // Stores one round's interactions atomically. Users must be below the
  // run's user count, items must exist, (user, position) must be unique.
  // Writing a round's (user, position) again overwrites it, so a retried
  // call is harmless.
  absl::Status LogInteractions(
      absl::string_view run_id, uint32_t round,
      const google::protobuf::RepeatedPtrField<v1::Interaction>& interactions);
  absl::StatusOr<std::unique_ptr<InteractionCursor>> ScanInteractions(
      absl::string_view run_id, uint32_t round_from, uint32_t round_to) const;

  // ---- Metric series ----
  // Stores one round's metric values atomically; with advance_progress the
  // run's rounds_done becomes round + 1 and the round's checkpoint is
  // stored, in the same write (the round's commit). With an owner, only
  // the run's owner may write.
  absl::Status WriteMetrics(const v1::WriteMetricsRequest& request);
  // The checkpoint committed with `round`; NOT_FOUND when there is none.
  absl::StatusOr<v1::RoundCheckpoint> GetCheckpoint(absl::string_view run_id,
                                                    uint32_t round) const;
  // Series of run `run_id` whose metric matches one of `metrics` (a name,
  // or a prefix ending in '.'; empty matches all), restricted to rounds in
  // [round_from, round_to]. Sorted by metric name.
  absl::StatusOr<std::vector<v1::Series>> ReadSeries(
      absl::string_view run_id, std::span<const std::string> metrics,
      uint32_t round_from, uint32_t round_to) const;
  // A counter bumped by every write of metrics or of a run record, for
  // watchers: WaitForChange returns once it differs from `seen` or after
  // `timeout`, and returns the current value.
  uint64_t changes() const;
  uint64_t WaitForChange(uint64_t seen, absl::Duration timeout) const;

  // Every metric of rounds >= from_round, one entry per round, ascending.
  absl::StatusOr<std::vector<v1::RoundMetrics>> ReadRounds(
      absl::string_view run_id, uint32_t from_round,
      std::span<const std::string> metrics) const;

 private:
  struct Handles;
  ItemStore(const Options& options, std::unique_ptr<rocksdb::DB> db,
            std::unique_ptr<Handles> handles);

  // The run's record, or NOT_FOUND naming it.
  absl::StatusOr<v1::RunRecord> ReadRun(absl::string_view run_id) const;
  // The run's embedding dimension and user count, cached: configs never
  // change after CreateRun.
  struct RunShape {
    uint32_t dim;
    uint32_t users;
    uint32_t rounds;
  };
  absl::StatusOr<RunShape> GetRunShape(absl::string_view run_id) const;
  absl::Mutex& WriteMutexFor(absl::string_view run_id) const;
  // Writes a run's record (its write lock held) and notes the change.
  absl::Status PutRun(const v1::RunRecord& run);
  // OK when `owner` owns `run`; FAILED_PRECONDITION naming who does.
  static absl::Status CheckOwner(const v1::RunRecord& run, absl::string_view owner);

  // Constant after construction.
  const Options options_;
  std::unique_ptr<rocksdb::DB> db_;
  std::unique_ptr<Handles> handles_;

  // Striped locks serializing the check-then-write sequences of one run.
  static constexpr int kWriteStripes = 64;
  struct WriteStripe {
    absl::Mutex mu;
    // The item id keys (ItemIdKey) of Ingests that have passed their check
    // and are writing. Ingest writes without the lock, so concurrent
    // batches of one run share the WAL's group commit (one sync for
    // several writers); a batch naming an id in here waits for that write
    // to end, so that its own check sees the outcome.
    absl::flat_hash_set<std::string> writing ABSL_GUARDED_BY(mu);
  };
  WriteStripe& StripeFor(absl::string_view run_id) const;
  mutable WriteStripe write_stripes_[kWriteStripes];

  void NoteChange();
  mutable absl::Mutex change_mutex_;
  uint64_t changes_ ABSL_GUARDED_BY(change_mutex_) = 0;

  mutable absl::Mutex shape_mutex_;
  mutable absl::flat_hash_map<std::string, RunShape> shapes_
      ABSL_GUARDED_BY(shape_mutex_);
};

}  // namespace feedloop::store

#endif  // FEEDLOOP_STORE_ITEM_STORE_H_
