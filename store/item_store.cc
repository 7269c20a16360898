#include "store/item_store.h"

#include <algorithm>
#include <cmath>
#include <string>
#include <tuple>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/vectors.h"
#include "model/item_id.h"
#include "rocksdb/db.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/table.h"
#include "rocksdb/write_batch.h"
#include "metrics/catalog.h"
#include "store/keys.h"
#include "store/run_status.h"

namespace feedloop::store {
namespace {

using google::protobuf::RepeatedPtrField;

constexpr char kRunsCf[] = "runs";
constexpr char kItemsCf[] = "items";
constexpr char kItemIdsCf[] = "item_ids";
constexpr char kInteractionsCf[] = "interactions";
constexpr char kMetricsCf[] = "metrics";
constexpr char kCheckpointsCf[] = "checkpoints";
constexpr size_t kMaxOwnerLength = 128;
constexpr size_t kMaxCheckpointBytes = size_t{64} << 20;

// rocksdb::Status stops here. The mapping follows what a caller should do:
// corruption is not retryable, I/O and busy states are.
absl::Status FromRocks(const rocksdb::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  const std::string msg = absl::StrCat(what, ": ", s.ToString());
  if (s.IsNotFound()) return absl::NotFoundError(msg);
  if (s.IsCorruption()) return absl::InternalError(msg);
  if (s.IsInvalidArgument()) return absl::InvalidArgumentError(msg);
  if (s.IsNotSupported()) return absl::UnimplementedError(msg);
  if (s.IsNoSpace()) return absl::ResourceExhaustedError(msg);
  if (s.IsBusy() || s.IsTimedOut() || s.IsTryAgain() || s.IsIOError()) {
    return absl::UnavailableError(msg);
  }
  return absl::InternalError(msg);
}

class RocksItemCursor final : public ItemCursor {
 public:
  RocksItemCursor(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf,
                  std::string begin, std::string end)
      : db_(db), begin_(std::move(begin)), end_(std::move(end)) {
    snapshot_ = db_->GetSnapshot();
    rocksdb::ReadOptions ro;
    ro.snapshot = snapshot_;
    upper_ = rocksdb::Slice(end_);
    ro.iterate_upper_bound = &upper_;
    it_.reset(db_->NewIterator(ro, cf));
    it_->Seek(begin_);
  }
  ~RocksItemCursor() override {
    it_.reset();
    db_->ReleaseSnapshot(snapshot_);
  }

  absl::StatusOr<bool> Next(size_t max, std::vector<v1::Item>* out) override {
    for (size_t n = 0; n < max && it_->Valid(); ++n, it_->Next()) {
      v1::Item item;
      if (!item.ParseFromArray(it_->value().data(),
                               static_cast<int>(it_->value().size()))) {
        return absl::InternalError("store: an item record is corrupt");
      }
      out->push_back(std::move(item));
    }
    FEEDLOOP_RETURN_IF_ERROR(FromRocks(it_->status(), "store: item scan"));
    return it_->Valid();
  }

 private:
  rocksdb::DB* db_;
  const rocksdb::Snapshot* snapshot_;
  const std::string begin_;
  const std::string end_;
  rocksdb::Slice upper_;
  std::unique_ptr<rocksdb::Iterator> it_;
};

class RocksInteractionCursor final : public InteractionCursor {
 public:
  RocksInteractionCursor(rocksdb::DB* db, rocksdb::ColumnFamilyHandle* cf,
                         std::string prefix, std::string begin, std::string end)
      : db_(db),
        prefix_size_(prefix.size()),
        begin_(std::move(begin)),
        end_(std::move(end)) {
    snapshot_ = db_->GetSnapshot();
    rocksdb::ReadOptions ro;
    ro.snapshot = snapshot_;
    upper_ = rocksdb::Slice(end_);
    ro.iterate_upper_bound = &upper_;
    it_.reset(db_->NewIterator(ro, cf));
    it_->Seek(begin_);
  }
  ~RocksInteractionCursor() override {
    it_.reset();
    db_->ReleaseSnapshot(snapshot_);
  }

  absl::StatusOr<bool> Next(size_t max, uint32_t* round,
                            std::vector<v1::Interaction>* out) override {
    bool have_round = false;
    for (size_t n = 0; n < max && it_->Valid(); ++n, it_->Next()) {
      InteractionKeyParts parts;
      const rocksdb::Slice key = it_->key();
      const rocksdb::Slice value = it_->value();
      if (!ParseInteractionSuffix(
              absl::string_view(key.data() + prefix_size_,
                                key.size() - prefix_size_),
              &parts) ||
          value.size() != 9) {
        return absl::InternalError("store: an interaction record is corrupt");
      }
      if (have_round && parts.round != *round) break;  // one round per chunk
      have_round = true;
      *round = parts.round;
      v1::Interaction& x = out->emplace_back();
      x.set_user_id(parts.user);
      x.set_position(parts.position);
      x.set_item_id(ReadBe64(value.data()));
      x.set_engaged(value[8] != 0);
    }
    FEEDLOOP_RETURN_IF_ERROR(
        FromRocks(it_->status(), "store: interaction scan"));
    return it_->Valid();
  }

 private:
  rocksdb::DB* db_;
  const size_t prefix_size_;
  const rocksdb::Snapshot* snapshot_;
  const std::string begin_;
  const std::string end_;
  rocksdb::Slice upper_;
  std::unique_ptr<rocksdb::Iterator> it_;
};

}  // namespace

struct ItemStore::Handles {
  std::vector<rocksdb::ColumnFamilyHandle*> all;
  rocksdb::ColumnFamilyHandle* runs = nullptr;
  rocksdb::ColumnFamilyHandle* items = nullptr;
  rocksdb::ColumnFamilyHandle* item_ids = nullptr;
  rocksdb::ColumnFamilyHandle* interactions = nullptr;
  rocksdb::ColumnFamilyHandle* metrics = nullptr;
  rocksdb::ColumnFamilyHandle* checkpoints = nullptr;
};

absl::StatusOr<std::unique_ptr<ItemStore>> ItemStore::Open(
    const Options& options) {
  if (options.path.empty()) {
    return absl::InvalidArgumentError("store: options.path is empty");
  }
  if (options.max_batch_items == 0 || options.max_batch_interactions == 0) {
    return absl::InvalidArgumentError("store: batch limits must be positive");
  }
  rocksdb::Options db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.IncreaseParallelism(2);
  // One budget for every column family's memtables (by default each of the
  // seven could hold two 64 MiB ones): a round of millions of items then
  // flushes as it goes instead of holding a copy of itself in memory.
  db_options.db_write_buffer_size = options.memtable_bytes;

  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  // Ingest checks every id against item_ids and LogInteractions every item:
  // bloom filters keep those point lookups off the disk.
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  rocksdb::ColumnFamilyOptions cf_options;
  cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const char* name : {rocksdb::kDefaultColumnFamilyName.c_str(), kRunsCf,
                           kItemsCf, kItemIdsCf, kInteractionsCf, kMetricsCf,
                           kCheckpointsCf}) {
    descriptors.emplace_back(name, cf_options);
  }
  auto handles = std::make_unique<Handles>();
  rocksdb::DB* raw_db = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_options, options.path, descriptors,
                                        &handles->all, &raw_db);
  if (!s.ok()) {
    return absl::UnavailableError(
        absl::StrCat("store: cannot open ", options.path, ": ", s.ToString()));
  }
  handles->runs = handles->all[1];
  handles->items = handles->all[2];
  handles->item_ids = handles->all[3];
  handles->interactions = handles->all[4];
  handles->metrics = handles->all[5];
  handles->checkpoints = handles->all[6];
  return std::unique_ptr<ItemStore>(new ItemStore(
      options, std::unique_ptr<rocksdb::DB>(raw_db), std::move(handles)));
}

ItemStore::ItemStore(const Options& options, std::unique_ptr<rocksdb::DB> db,
                     std::unique_ptr<Handles> handles)
    : options_(options), db_(std::move(db)), handles_(std::move(handles)) {}

ItemStore::~ItemStore() {
  for (rocksdb::ColumnFamilyHandle* h : handles_->all) {
    db_->DestroyColumnFamilyHandle(h);
  }
  db_->Close().PermitUncheckedError();
}

void ItemStore::NoteChange() {
  absl::MutexLock lock(&change_mutex_);
  ++changes_;
}

uint64_t ItemStore::changes() const {
  absl::MutexLock lock(&change_mutex_);
  return changes_;
}

uint64_t ItemStore::WaitForChange(uint64_t seen, absl::Duration timeout) const {
  std::pair<const ItemStore*, uint64_t> args(this, seen);
  absl::MutexLock lock(&change_mutex_);
  change_mutex_.AwaitWithTimeout(
      absl::Condition(
          +[](std::pair<const ItemStore*, uint64_t>* a)
              ABSL_EXCLUSIVE_LOCKS_REQUIRED(a->first->change_mutex_) {
                return a->first->changes_ != a->second;
              },
          &args),
      timeout);
  return changes_;
}

ItemStore::WriteStripe& ItemStore::StripeFor(absl::string_view run_id) const {
  return write_stripes_[absl::HashOf(run_id) % kWriteStripes];
}

absl::Mutex& ItemStore::WriteMutexFor(absl::string_view run_id) const {
  return StripeFor(run_id).mu;
}

// ---------------------------------------------------------------- runs

absl::StatusOr<v1::RunRecord> ItemStore::ReadRun(
    absl::string_view run_id) const {
  FEEDLOOP_RETURN_IF_ERROR(ValidateRunId(run_id));
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), handles_->runs,
                               rocksdb::Slice(run_id.data(), run_id.size()),
                               &value);
  if (s.IsNotFound()) {
    return absl::NotFoundError(absl::StrCat("run '", run_id, "' not found"));
  }
  FEEDLOOP_RETURN_IF_ERROR(FromRocks(s, "store: reading a run"));
  v1::RunRecord run;
  if (!run.ParseFromString(value)) {
    return absl::InternalError(
        absl::StrCat("store: record of run '", run_id, "' is corrupt"));
  }
  return run;
}

absl::StatusOr<v1::RunRecord> ItemStore::GetRun(
    absl::string_view run_id) const {
  return ReadRun(run_id);
}

absl::StatusOr<ItemStore::RunShape> ItemStore::GetRunShape(
    absl::string_view run_id) const {
  {
    absl::MutexLock lock(&shape_mutex_);
    auto it = shapes_.find(run_id);
    if (it != shapes_.end()) return it->second;
  }
  FEEDLOOP_ASSIGN_OR_RETURN(v1::RunRecord run, ReadRun(run_id));
  RunShape shape{run.config().space().dim(), run.config().users().count(),
                 run.config().rounds()};
  absl::MutexLock lock(&shape_mutex_);
  shapes_.emplace(std::string(run_id), shape);
  return shape;
}

absl::Status ItemStore::CreateRun(v1::RunRecord run) {
  FEEDLOOP_RETURN_IF_ERROR(ValidateRunId(run.run_id(), "run.run_id"));
  if (!run.sweep_id().empty()) {
    FEEDLOOP_RETURN_IF_ERROR(ValidateRunId(run.sweep_id(), "run.sweep_id"));
  }
  if (run.config().space().dim() == 0) {
    return absl::InvalidArgumentError("run.config.space.dim: must be positive");
  }
  if (run.status() == v1::RUN_STATUS_UNSPECIFIED) run.set_status(v1::PENDING);
  if (run.created_unix_ms() == 0) run.set_created_unix_ms(absl::ToUnixMillis(options_.clock->Now()));

  absl::MutexLock lock(&WriteMutexFor(run.run_id()));
  absl::StatusOr<v1::RunRecord> existing = ReadRun(run.run_id());
  if (existing.ok()) {
    return absl::AlreadyExistsError(
        absl::StrCat("run.run_id: run '", run.run_id(), "' already exists"));
  }
  if (!absl::IsNotFound(existing.status())) return existing.status();
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync;
  return FromRocks(db_->Put(wo, handles_->runs, run.run_id(),
                            run.SerializeAsString()),
                   "store: writing a run");
}

absl::StatusOr<v1::RunRecord> ItemStore::UpdateRun(
    const v1::UpdateRunRequest& update) {
  absl::MutexLock lock(&WriteMutexFor(update.run_id()));
  FEEDLOOP_ASSIGN_OR_RETURN(v1::RunRecord run, ReadRun(update.run_id()));
  if (!update.owner().empty()) {
    FEEDLOOP_RETURN_IF_ERROR(CheckOwner(run, update.owner()));
    if (IsEnded(update.status())) {
      run.clear_owner();
      run.clear_lease_expires_unix_ms();
    }
  }
  if (update.status() != v1::RUN_STATUS_UNSPECIFIED) {
    if (update.status() == v1::RUNNING && run.started_unix_ms() == 0) {
      run.set_started_unix_ms(absl::ToUnixMillis(options_.clock->Now()));
    }
    if (IsEnded(update.status()) && !IsEnded(run.status())) {
      run.set_finished_unix_ms(absl::ToUnixMillis(options_.clock->Now()));
    }
    run.set_status(update.status());
  }
  if (update.rounds_done() > run.rounds_done()) {
    run.set_rounds_done(update.rounds_done());
  }
  if (!update.error().empty()) run.set_error(update.error());
  FEEDLOOP_RETURN_IF_ERROR(PutRun(run));
  return run;
}

absl::Status ItemStore::PutRun(const v1::RunRecord& run) {
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync;
  FEEDLOOP_RETURN_IF_ERROR(FromRocks(
      db_->Put(wo, handles_->runs, run.run_id(), run.SerializeAsString()),
      "store: writing a run"));
  NoteChange();
  return absl::OkStatus();
}

absl::StatusOr<v1::RunRecord> ItemStore::ClaimRun(absl::string_view run_id,
                                                  absl::string_view owner,
                                                  absl::Duration lease) {
  if (owner.empty() || owner.size() > kMaxOwnerLength) {
    return absl::InvalidArgumentError(absl::StrCat(
        "owner: must be 1 to ", kMaxOwnerLength, " characters"));
  }
  if (lease < absl::Seconds(1) || lease > absl::Hours(1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "lease_ms: ", absl::ToInt64Milliseconds(lease), " is outside [1000, 3600000]"));
  }
  absl::MutexLock lock(&WriteMutexFor(run_id));
  FEEDLOOP_ASSIGN_OR_RETURN(v1::RunRecord run, ReadRun(run_id));
  const int64_t now = absl::ToUnixMillis(options_.clock->Now());
  if (IsFinished(run.status())) {
    return absl::FailedPreconditionError(absl::StrCat(
        "run '", run_id, "' is ", v1::RunStatus_Name(run.status()),
        ": there is nothing left to play"));
  }
  if (!run.owner().empty() && run.owner() != owner &&
      run.lease_expires_unix_ms() > now) {
    return absl::FailedPreconditionError(absl::StrCat(
        "run '", run_id, "' is owned by '", run.owner(), "' for another ",
        (run.lease_expires_unix_ms() - now + 999) / 1000, " s (its lease)"));
  }
  if (run.status() == v1::STOPPED) {  // to be resumed
    run.set_status(v1::PENDING);
    run.clear_finished_unix_ms();
  }
  run.set_owner(std::string(owner));
  run.set_lease_expires_unix_ms(now + absl::ToInt64Milliseconds(lease));
  FEEDLOOP_RETURN_IF_ERROR(PutRun(run));
  return run;
}

absl::Status ItemStore::CheckOwner(const v1::RunRecord& run,
                                   absl::string_view owner) {
  if (run.owner() == owner) return absl::OkStatus();
  return absl::FailedPreconditionError(absl::StrCat(
      "run '", run.run_id(), "' is owned by ",
      run.owner().empty() ? std::string("nobody")
                          : absl::StrCat("'", run.owner(), "'"),
      ", not '", owner, "' (its lease expired and another loop adopted it)"));
}

absl::StatusOr<std::vector<v1::RunRecord>> ItemStore::ListRuns() const {
  std::vector<v1::RunRecord> runs;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions(), handles_->runs));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    v1::RunRecord& run = runs.emplace_back();
    if (!run.ParseFromArray(it->value().data(),
                            static_cast<int>(it->value().size()))) {
      return absl::InternalError("store: a run record is corrupt");
    }
  }
  FEEDLOOP_RETURN_IF_ERROR(FromRocks(it->status(), "store: listing runs"));
  // Newest experiment first; a sweep's runs together, in id order (point,
  // then replicate).
  absl::flat_hash_map<std::string, int64_t> sweep_created;
  for (const v1::RunRecord& run : runs) {
    if (run.sweep_id().empty()) continue;
    auto [it, fresh] = sweep_created.try_emplace(run.sweep_id(), run.created_unix_ms());
    if (!fresh) it->second = std::min(it->second, run.created_unix_ms());
  }
  auto key = [&](const v1::RunRecord& run) {
    const std::string& group = run.sweep_id().empty() ? run.run_id() : run.sweep_id();
    const int64_t created =
        run.sweep_id().empty() ? run.created_unix_ms() : sweep_created.at(run.sweep_id());
    return std::tuple(-created, group, run.run_id());
  };
  std::sort(runs.begin(), runs.end(),
            [&](const auto& a, const auto& b) { return key(a) < key(b); });
  return runs;
}

// ---------------------------------------------------------------- items

absl::Status ItemStore::Ingest(absl::string_view run_id,
                               const RepeatedPtrField<v1::Item>& items) {
  if (items.empty()) {
    return absl::InvalidArgumentError("items: the batch is empty");
  }
  if (static_cast<size_t>(items.size()) > options_.max_batch_items) {
    return absl::InvalidArgumentError(
        absl::StrCat("items: ", items.size(), " items exceed the limit of ",
                     options_.max_batch_items, " per request"));
  }
  FEEDLOOP_ASSIGN_OR_RETURN(RunShape shape, GetRunShape(run_id));

  // Everything that depends only on the request is checked before taking the
  // run's lock.
  absl::flat_hash_map<uint64_t, int> index_of;
  index_of.reserve(items.size());
  for (int i = 0; i < items.size(); ++i) {
    const v1::Item& item = items[i];
    FEEDLOOP_RETURN_IF_ERROR(model::CheckItemId(item.id(), absl::StrCat("items[", i, "].id")));
    if (item.round() >= shape.rounds) {
      return absl::InvalidArgumentError(absl::StrCat(
          "items[", i, "].round: ", item.round(), " is not a round of the run (it has ",
          shape.rounds, ")"));
    }
    auto [it, inserted] = index_of.emplace(item.id(), i);
    if (!inserted) {
      return absl::InvalidArgumentError(
          absl::StrCat("items[", i, "].id: ", item.id(), " duplicates items[",
                       it->second, "].id"));
    }
    FEEDLOOP_RETURN_IF_ERROR(CheckEmbedding(
        AsSpan(item.embedding()), shape.dim, absl::StrCat("items[", i, "].embedding")));
    if (item.title().size() > options_.max_title_length) {
      return absl::InvalidArgumentError(
          absl::StrCat("items[", i, "].title: ", item.title().size(),
                       " characters exceed the limit of ",
                       options_.max_title_length));
    }
  }

  std::vector<std::string> id_keys;
  id_keys.reserve(items.size());
  for (const v1::Item& item : items) {
    id_keys.push_back(ItemIdKey(run_id, item.id()));
  }
  std::vector<rocksdb::Slice> id_slices(id_keys.begin(), id_keys.end());

  WriteStripe& stripe = StripeFor(run_id);
  absl::ReleasableMutexLock lock(&stripe.mu);
  // An id another Ingest is writing now: wait for its write to end, so that
  // the check below sees it stored (or not, had the write failed).
  auto none_writing = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(stripe.mu) {
    for (const std::string& key : id_keys) {
      if (stripe.writing.contains(key)) return false;
    }
    return true;
  };
  stripe.mu.Await(absl::Condition(&none_writing));
  std::vector<std::string> found(id_keys.size());
  std::vector<rocksdb::Status> statuses = db_->MultiGet(
      rocksdb::ReadOptions(),
      std::vector<rocksdb::ColumnFamilyHandle*>(id_keys.size(),
                                                handles_->item_ids),
      id_slices, &found);
  // Items stored already: skipped when stored exactly as sent (a redone
  // round), refused otherwise.
  std::vector<bool> stored(items.size(), false);
  std::string value;
  for (size_t i = 0; i < statuses.size(); ++i) {
    if (statuses[i].IsNotFound()) continue;
    FEEDLOOP_RETURN_IF_ERROR(FromRocks(statuses[i], "store: checking item ids"));
    const v1::Item& item = items[static_cast<int>(i)];
    std::string existing;
    const uint32_t stored_round =
        found[i].size() == 4 ? ReadBe32(found[i].data()) : item.round() + 1;
    rocksdb::Status got =
        stored_round == item.round()
            ? db_->Get(rocksdb::ReadOptions(), handles_->items,
                       ItemKey(run_id, item.round(), item.id()), &existing)
            : rocksdb::Status::NotFound();
    if (!got.ok() && !got.IsNotFound()) {
      return FromRocks(got, "store: reading an item");
    }
    value.clear();
    item.SerializeToString(&value);
    if (!got.ok() || existing != value) {
      return absl::AlreadyExistsError(absl::StrCat(
          "items[", i, "].id: item ", item.id(), " already exists in run '",
          run_id, "' with other content"));
    }
    stored[i] = true;
  }

  rocksdb::WriteBatch batch;
  std::string round_bytes;
  for (int i = 0; i < items.size(); ++i) {
    if (stored[static_cast<size_t>(i)]) continue;
    const v1::Item& item = items[i];
    value.clear();
    item.SerializeToString(&value);
    FEEDLOOP_RETURN_IF_ERROR(FromRocks(
        batch.Put(handles_->items, ItemKey(run_id, item.round(), item.id()),
                  value),
        "store: batching an item"));
    round_bytes.clear();
    AppendBe32(&round_bytes, item.round());
    FEEDLOOP_RETURN_IF_ERROR(
        FromRocks(batch.Put(handles_->item_ids, id_keys[i], round_bytes),
                  "store: batching an item"));
  }
  // The write runs unlocked (its ids marked as being written), so that
  // concurrent batches share one WAL sync.
  std::vector<const std::string*> marked;
  for (size_t i = 0; i < id_keys.size(); ++i) {
    if (!stored[i] && stripe.writing.insert(id_keys[i]).second) marked.push_back(&id_keys[i]);
  }
  lock.Release();
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync;
  const rocksdb::Status written = db_->Write(wo, &batch);
  absl::MutexLock relock(&stripe.mu);
  for (const std::string* key : marked) stripe.writing.erase(*key);
  return FromRocks(written, "store: writing items");
}

absl::StatusOr<std::vector<v1::Item>> ItemStore::GetItems(
    absl::string_view run_id, std::span<const uint64_t> ids) const {
  if (ids.size() > options_.max_batch_items) {
    return absl::InvalidArgumentError(
        absl::StrCat("ids: ", ids.size(), " ids exceed the limit of ",
                     options_.max_batch_items, " per request"));
  }
  FEEDLOOP_ASSIGN_OR_RETURN(const RunShape shape, GetRunShape(run_id));
  // Bounded by size before anything is read: every item carries dim
  // floats.
  const uint64_t least = uint64_t{ids.size()} * (uint64_t{shape.dim} * sizeof(float) + 16);
  if (least > options_.max_response_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ids: ", ids.size(), " items of dim ", shape.dim, " weigh at least ", least,
        " bytes, more than one response carries (", options_.max_response_bytes,
        "); ask for at most ",
        options_.max_response_bytes / (uint64_t{shape.dim} * sizeof(float) + 16),
        " at a time"));
  }
  rocksdb::ReadOptions ro;
  const rocksdb::Snapshot* snapshot = db_->GetSnapshot();
  ro.snapshot = snapshot;
  std::vector<v1::Item> out;
  out.reserve(ids.size());
  size_t bytes = 0;
  absl::Status status;
  std::string value;
  for (size_t i = 0; i < ids.size() && status.ok(); ++i) {
    rocksdb::Status s =
        db_->Get(ro, handles_->item_ids, ItemIdKey(run_id, ids[i]), &value);
    if (s.IsNotFound()) {
      status = absl::NotFoundError(absl::StrCat(
          "ids[", i, "]: item ", ids[i], " not found in run '", run_id, "'"));
      break;
    }
    status = FromRocks(s, "store: reading an item id");
    if (!status.ok() || value.size() != 4) {
      if (status.ok()) status = absl::InternalError("store: corrupt item id");
      break;
    }
    const uint32_t round = ReadBe32(value.data());
    s = db_->Get(ro, handles_->items, ItemKey(run_id, round, ids[i]), &value);
    status = FromRocks(s, "store: reading an item");
    if (status.ok() && !out.emplace_back().ParseFromString(value)) {
      status = absl::InternalError("store: an item record is corrupt");
    }
    bytes += value.size();
    if (status.ok() && bytes > options_.max_response_bytes) {  // long titles
      status = absl::InvalidArgumentError(absl::StrCat(
          "ids: the first ", i + 1, " items weigh more than one response carries (",
          options_.max_response_bytes, " bytes); ask for fewer at a time"));
    }
  }
  db_->ReleaseSnapshot(snapshot);
  if (!status.ok()) return status;
  return out;
}

absl::StatusOr<std::unique_ptr<ItemCursor>> ItemStore::ScanItems(
    absl::string_view run_id, uint32_t round_from, uint32_t round_to) const {
  FEEDLOOP_RETURN_IF_ERROR(GetRunShape(run_id).status());
  if (round_from > round_to) {
    return absl::InvalidArgumentError(
        absl::StrCat("round_from: ", round_from, " is after round_to ",
                     round_to));
  }
  std::string begin = ItemRoundPrefix(run_id, round_from);
  std::string end = round_to == UINT32_MAX
                        ? PrefixEnd(RunPrefix(run_id))
                        : ItemRoundPrefix(run_id, round_to + 1);
  return std::unique_ptr<ItemCursor>(new RocksItemCursor(
      db_.get(), handles_->items, std::move(begin), std::move(end)));
}

// ---------------------------------------------------------- interactions

absl::Status ItemStore::LogInteractions(
    absl::string_view run_id, uint32_t round,
    const RepeatedPtrField<v1::Interaction>& interactions) {
  if (interactions.empty()) {
    return absl::InvalidArgumentError("interactions: the batch is empty");
  }
  if (static_cast<size_t>(interactions.size()) >
      options_.max_batch_interactions) {
    return absl::InvalidArgumentError(absl::StrCat(
        "interactions: ", interactions.size(), " exceed the limit of ",
        options_.max_batch_interactions, " per request"));
  }
  FEEDLOOP_ASSIGN_OR_RETURN(RunShape shape, GetRunShape(run_id));
  if (round >= shape.rounds) {
    return absl::InvalidArgumentError(absl::StrCat(
        "round: ", round, " is not a round of the run (it has ", shape.rounds, ")"));
  }
  absl::flat_hash_set<uint64_t> slots;
  absl::flat_hash_set<uint64_t> item_ids;
  slots.reserve(interactions.size());
  for (int i = 0; i < interactions.size(); ++i) {
    const v1::Interaction& x = interactions[i];
    if (x.user_id() >= shape.users) {
      return absl::InvalidArgumentError(
          absl::StrCat("interactions[", i, "].user_id: ", x.user_id(),
                       " is not a user of run '", run_id, "' (", shape.users,
                       " users)"));
    }
    if (!slots.insert((uint64_t{x.user_id()} << 32) | x.position()).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "interactions[", i, "]: user ", x.user_id(), " position ",
          x.position(), " appears twice"));
    }
    item_ids.insert(x.item_id());
  }
  // Every item must exist: a bloom-filtered point lookup each.
  std::vector<std::string> keys;
  keys.reserve(item_ids.size());
  for (uint64_t id : item_ids) keys.push_back(ItemIdKey(run_id, id));
  std::vector<rocksdb::Slice> slices(keys.begin(), keys.end());
  std::vector<std::string> found(keys.size());
  std::vector<rocksdb::Status> statuses = db_->MultiGet(
      rocksdb::ReadOptions(),
      std::vector<rocksdb::ColumnFamilyHandle*>(keys.size(),
                                                handles_->item_ids),
      slices, &found);
  for (size_t i = 0; i < statuses.size(); ++i) {
    if (statuses[i].IsNotFound()) {
      const uint64_t id = ReadBe64(keys[i].data() + keys[i].size() - 8);
      int at = 0;
      while (interactions[at].item_id() != id) ++at;
      return absl::NotFoundError(absl::StrCat(
          "interactions[", at, "].item_id: item ", id, " not found in run '",
          run_id, "'"));
    }
    FEEDLOOP_RETURN_IF_ERROR(FromRocks(statuses[i], "store: checking items"));
  }

  rocksdb::WriteBatch batch;
  std::string value;
  for (const v1::Interaction& x : interactions) {
    value.clear();
    AppendBe64(&value, x.item_id());
    value.push_back(x.engaged() ? 1 : 0);
    FEEDLOOP_RETURN_IF_ERROR(FromRocks(
        batch.Put(handles_->interactions,
                  InteractionKey(run_id, round, x.user_id(), x.position()),
                  value),
        "store: batching an interaction"));
  }
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync;
  return FromRocks(db_->Write(wo, &batch), "store: writing interactions");
}

absl::StatusOr<std::unique_ptr<InteractionCursor>> ItemStore::ScanInteractions(
    absl::string_view run_id, uint32_t round_from, uint32_t round_to) const {
  FEEDLOOP_RETURN_IF_ERROR(GetRunShape(run_id).status());
  if (round_from > round_to) {
    return absl::InvalidArgumentError(
        absl::StrCat("round_from: ", round_from, " is after round_to ",
                     round_to));
  }
  std::string prefix = RunPrefix(run_id);
  std::string begin = InteractionRoundPrefix(run_id, round_from);
  std::string end = round_to == UINT32_MAX
                        ? PrefixEnd(prefix)
                        : InteractionRoundPrefix(run_id, round_to + 1);
  return std::unique_ptr<InteractionCursor>(
      new RocksInteractionCursor(db_.get(), handles_->interactions,
                                 std::move(prefix), std::move(begin),
                                 std::move(end)));
}

// --------------------------------------------------------------- metrics

absl::Status ItemStore::WriteMetrics(const v1::WriteMetricsRequest& request) {
  const absl::string_view run_id = request.run_id();
  const uint32_t round = request.round();
  const RepeatedPtrField<v1::MetricValue>& values = request.values();
  if (values.empty()) {
    return absl::InvalidArgumentError("values: no metric values");
  }
  if (request.has_checkpoint() && !request.advance_progress()) {
    return absl::InvalidArgumentError(
        "checkpoint: is written with the round's commit (advance_progress)");
  }
  if (request.checkpoint().ByteSizeLong() > kMaxCheckpointBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "checkpoint: ", request.checkpoint().ByteSizeLong(),
        " bytes exceed the limit of ", kMaxCheckpointBytes));
  }
  absl::flat_hash_set<absl::string_view> names;
  for (int i = 0; i < values.size(); ++i) {
    const v1::MetricValue& v = values[i];
    FEEDLOOP_RETURN_IF_ERROR(
        ValidateMetricName(v.name(), absl::StrCat("values[", i, "].name")));
    if (!names.insert(v.name()).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "values[", i, "].name: '", v.name(), "' appears twice"));
    }
    if (!v.absent().empty()) {
      if (v.absent().size() > kMaxAbsentReasonLength) {
        return absl::InvalidArgumentError(
            absl::StrCat("values[", i, "].absent: a reason has at most ",
                         kMaxAbsentReasonLength, " bytes"));
      }
      if (v.value() != 0) {
        return absl::InvalidArgumentError(absl::StrCat(
            "values[", i, "]: ", v.name(), " is absent and has a value"));
      }
    } else if (!std::isfinite(v.value())) {
      return absl::InvalidArgumentError(absl::StrCat(
          "values[", i, "].value: ", v.name(),
          " is not finite (an undefined value is sent as absent, with its reason)"));
    }
  }
  absl::MutexLock lock(&WriteMutexFor(run_id));
  FEEDLOOP_ASSIGN_OR_RETURN(v1::RunRecord run, ReadRun(run_id));
  if (!request.owner().empty()) {
    FEEDLOOP_RETURN_IF_ERROR(CheckOwner(run, request.owner()));
  }
  rocksdb::WriteBatch batch;
  if (request.advance_progress()) {
    std::string key = RunPrefix(run_id);
    AppendBe32(&key, round);
    FEEDLOOP_RETURN_IF_ERROR(FromRocks(
        request.has_checkpoint()
            ? batch.Put(handles_->checkpoints, key,
                        request.checkpoint().SerializeAsString())
            : batch.Delete(handles_->checkpoints, key),
        "store: batching a checkpoint"));
  }
  for (const v1::MetricValue& v : values) {
    FEEDLOOP_RETURN_IF_ERROR(
        FromRocks(batch.Put(handles_->metrics,
                            MetricKey(run_id, v.name(), round),
                            EncodeMetricValue(v)),
                  "store: batching a metric"));
  }
  if (request.advance_progress() && round + 1 > run.rounds_done()) {
    run.set_rounds_done(round + 1);
    FEEDLOOP_RETURN_IF_ERROR(FromRocks(
        batch.Put(handles_->runs, run.run_id(), run.SerializeAsString()),
        "store: batching a run"));
  }
  rocksdb::WriteOptions wo;
  wo.sync = options_.sync;
  FEEDLOOP_RETURN_IF_ERROR(
      FromRocks(db_->Write(wo, &batch), "store: writing metrics"));
  NoteChange();
  return absl::OkStatus();
}

absl::StatusOr<v1::RoundCheckpoint> ItemStore::GetCheckpoint(
    absl::string_view run_id, uint32_t round) const {
  FEEDLOOP_RETURN_IF_ERROR(ReadRun(run_id).status());
  std::string key = RunPrefix(run_id);
  AppendBe32(&key, round);
  std::string value;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), handles_->checkpoints, key, &value);
  if (s.IsNotFound()) {
    return absl::NotFoundError(absl::StrCat(
        "run '", run_id, "' has no checkpoint of round ", round));
  }
  FEEDLOOP_RETURN_IF_ERROR(FromRocks(s, "store: reading a checkpoint"));
  v1::RoundCheckpoint checkpoint;
  if (!checkpoint.ParseFromString(value)) {
    return absl::InternalError(absl::StrCat(
        "store: checkpoint of round ", round, " of run '", run_id, "' is corrupt"));
  }
  return checkpoint;
}

absl::StatusOr<std::vector<v1::Series>> ItemStore::ReadSeries(
    absl::string_view run_id, std::span<const std::string> metrics,
    uint32_t round_from, uint32_t round_to) const {
  FEEDLOOP_RETURN_IF_ERROR(ReadRun(run_id).status());
  const std::string prefix = RunPrefix(run_id);
  const std::string end = PrefixEnd(prefix);
  rocksdb::ReadOptions ro;
  rocksdb::Slice upper(end);
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(ro, handles_->metrics));
  std::vector<v1::Series> out;
  std::string metric;
  uint32_t round = 0;
  v1::MetricValue value;
  for (it->Seek(prefix); it->Valid(); it->Next()) {
    const rocksdb::Slice key = it->key();
    if (!ParseMetricSuffix(absl::string_view(key.data() + prefix.size(),
                                             key.size() - prefix.size()),
                           &metric, &round) ||
        !DecodeMetricValue(absl::string_view(it->value().data(), it->value().size()),
                           &value)) {
      return absl::InternalError("store: a metric record is corrupt");
    }
    if (round < round_from || round > round_to) continue;
    if (!metrics::MatchesAnyFilter(metric, metrics)) continue;
    if (out.empty() || out.back().metric() != metric) {
      v1::Series& s = out.emplace_back();
      s.set_run_id(std::string(run_id));
      s.set_metric(metric);
    }
    if (value.absent().empty()) {
      out.back().add_rounds(round);
      out.back().add_values(value.value());
    } else {
      out.back().add_absent_rounds(round);
      out.back().add_absent_reasons(value.absent());
    }
  }
  FEEDLOOP_RETURN_IF_ERROR(FromRocks(it->status(), "store: reading metrics"));
  return out;
}

absl::StatusOr<std::vector<v1::RoundMetrics>> ItemStore::ReadRounds(
    absl::string_view run_id, uint32_t from_round,
    std::span<const std::string> metrics) const {
  FEEDLOOP_ASSIGN_OR_RETURN(
      std::vector<v1::Series> series,
      ReadSeries(run_id, metrics, from_round, UINT32_MAX));
  std::map<uint32_t, v1::RoundMetrics> by_round;
  for (const v1::Series& s : series) {
    for (int i = 0; i < s.rounds_size(); ++i) {
      v1::RoundMetrics& r = by_round[s.rounds(i)];
      v1::MetricValue* v = r.add_values();
      v->set_name(s.metric());
      v->set_value(s.values(i));
    }
    for (int i = 0; i < s.absent_rounds_size(); ++i) {
      v1::RoundMetrics& r = by_round[s.absent_rounds(i)];
      v1::MetricValue* v = r.add_values();
      v->set_name(s.metric());
      v->set_absent(s.absent_reasons(i));
    }
  }
  std::vector<v1::RoundMetrics> out;
  out.reserve(by_round.size());
  for (auto& [round, r] : by_round) {
    r.set_run_id(std::string(run_id));
    r.set_round(round);
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace feedloop::store
