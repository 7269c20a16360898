#include "store/item_store.h"

#include <unistd.h>
#include <cmath>
#include <filesystem>
#include <limits>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/random.h"
#include "common/vectors.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"

namespace feedloop::store {
namespace {

using ::feedloop::testing::StatusIs;
using ::google::protobuf::RepeatedPtrField;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr uint32_t kDim = 8;

v1::Item MakeItem(uint64_t id, uint32_t round, Rng& rng) {
  v1::Item item;
  item.set_id(id);
  item.set_round(round);
  item.set_creator_id(static_cast<uint32_t>(id % 7));
  item.set_title(absl::StrCat("item ", id));
  std::vector<float> e(kDim);
  for (float& x : e) x = static_cast<float>(rng.Normal());
  Normalize(std::span<float>(e));
  item.mutable_embedding()->Assign(e.begin(), e.end());
  return item;
}

// A round's commit: its metric values with advance_progress.
v1::WriteMetricsRequest Commit(const std::string& run, uint32_t round,
                               const RepeatedPtrField<v1::MetricValue>& values) {
  v1::WriteMetricsRequest request;
  request.set_run_id(run);
  request.set_round(round);
  *request.mutable_values() = values;
  request.set_advance_progress(true);
  return request;
}

class ItemStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = absl::StrCat(::testing::TempDir(), "/item_store_",
                         ::testing::UnitTest::GetInstance()
                             ->current_test_info()
                             ->name());
    std::filesystem::remove_all(path_);
    Reopen();
    v1::RunRecord run;
    run.set_run_id("r1");
    run.mutable_config()->mutable_space()->set_dim(kDim);
    run.mutable_config()->mutable_users()->set_count(100);
    ASSERT_OK(store_->CreateRun(run));
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(path_);
  }
  void Reopen() {
    store_.reset();
    ItemStore::Options options;
    options.path = path_;
    options.max_batch_items = 50;
    options.max_response_bytes = 512 << 10;  // 31 items at dim 4096
    options.clock = &clock_;
    auto store = ItemStore::Open(options);
    ASSERT_OK(store.status());
    store_ = *std::move(store);
  }
  RepeatedPtrField<v1::Item> Batch(uint64_t first_id, int n, uint32_t round) {
    RepeatedPtrField<v1::Item> items;
    for (int i = 0; i < n; ++i) *items.Add() = MakeItem(first_id + i, round, rng_);
    return items;
  }
  std::vector<v1::Item> ScanAll(uint32_t from, uint32_t to) {
    std::vector<v1::Item> out;
    auto cursor = store_->ScanItems("r1", from, to);
    EXPECT_OK(cursor.status());
    if (!cursor.ok()) return out;
    while (true) {
      auto more = (*cursor)->Next(3, &out);
      EXPECT_OK(more.status());
      if (!more.ok() || !*more) break;
    }
    return out;
  }

  ManualClock clock_;
  std::string path_;
  Rng rng_{17};
  std::unique_ptr<ItemStore> store_;
};

TEST_F(ItemStoreTest, IngestThenGetRoundTripsBytes) {
  auto items = Batch(1, 5, 0);
  ASSERT_OK(store_->Ingest("r1", items));
  std::vector<uint64_t> ids = {3, 1, 5};
  ASSERT_OK_AND_ASSIGN(auto got, store_->GetItems("r1", ids));
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].SerializeAsString(), items[2].SerializeAsString());
  EXPECT_EQ(got[1].SerializeAsString(), items[0].SerializeAsString());
  EXPECT_EQ(got[2].SerializeAsString(), items[4].SerializeAsString());
}

TEST_F(ItemStoreTest, SurvivesReopen) {
  auto items = Batch(1, 10, 2);
  ASSERT_OK(store_->Ingest("r1", items));
  Reopen();
  auto got = ScanAll(0, UINT32_MAX);
  ASSERT_EQ(got.size(), 10u);
  for (int i = 0; i < 10; ++i) {
    EXPECT_EQ(got[i].SerializeAsString(), items[i].SerializeAsString());
  }
}

TEST_F(ItemStoreTest, ScansByRoundRange) {
  for (uint32_t round = 0; round < 6; ++round) {
    ASSERT_OK(store_->Ingest("r1", Batch(100 * (round + 1), 4, round)));
  }
  auto live = ScanAll(3, 5);  // live at round 5 with a TTL of 3
  ASSERT_EQ(live.size(), 12u);
  for (const auto& item : live) {
    EXPECT_GE(item.round(), 3u);
    EXPECT_LE(item.round(), 5u);
  }
  EXPECT_EQ(ScanAll(0, UINT32_MAX).size(), 24u);
  EXPECT_EQ(ScanAll(9, 12).size(), 0u);
  EXPECT_THAT(store_->ScanItems("r1", 5, 3),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("round_from")));
}

TEST_F(ItemStoreTest, ScanSeesOneRunOnly) {
  v1::RunRecord other;
  other.set_run_id("r10");
  other.mutable_config()->mutable_space()->set_dim(kDim);
  ASSERT_OK(store_->CreateRun(other));
  ASSERT_OK(store_->Ingest("r10", Batch(1, 3, 0)));
  ASSERT_OK(store_->Ingest("r1", Batch(1, 2, 0)));
  EXPECT_EQ(ScanAll(0, UINT32_MAX).size(), 2u);
}

// Each bad batch is rejected whole: nothing of it is readable afterwards.
class BadIngestTest : public ItemStoreTest {
 protected:
  void ExpectRejected(const RepeatedPtrField<v1::Item>& items,
                      absl::StatusCode code, const std::string& message) {
    EXPECT_THAT(store_->Ingest("r1", items), StatusIs(code, HasSubstr(message)));
    EXPECT_EQ(ScanAll(0, UINT32_MAX).size(), stored_before_);
  }
  size_t stored_before_ = 0;
};

TEST_F(BadIngestTest, RejectsWrongDimension) {
  auto items = Batch(1, 4, 0);
  items[2].add_embedding(0.0f);
  ExpectRejected(items, absl::StatusCode::kInvalidArgument,
                 "items[2].embedding: has 9 values, expected dimension 8");
}

TEST_F(BadIngestTest, RejectsNaNAndInf) {
  auto items = Batch(1, 4, 0);
  items[1].set_embedding(3, std::numeric_limits<float>::quiet_NaN());
  ExpectRejected(items, absl::StatusCode::kInvalidArgument,
                 "items[1].embedding[3]: is NaN");
  items = Batch(1, 4, 0);
  items[3].set_embedding(0, std::numeric_limits<float>::infinity());
  ExpectRejected(items, absl::StatusCode::kInvalidArgument,
                 "items[3].embedding[0]: is infinite");
}

TEST_F(BadIngestTest, RejectsZeroAndNonUnitVectors) {
  auto items = Batch(1, 2, 0);
  for (int i = 0; i < items[1].embedding_size(); ++i) {
    items[1].set_embedding(i, 0);
  }
  ExpectRejected(items, absl::StatusCode::kInvalidArgument,
                 "items[1].embedding: is the zero vector");
  items = Batch(1, 2, 0);
  items[0].set_embedding(0, items[0].embedding(0) + 1.0f);
  ExpectRejected(items, absl::StatusCode::kInvalidArgument,
                 "items[0].embedding: has norm");
}

TEST_F(BadIngestTest, RejectsDuplicateIdInBatch) {
  auto items = Batch(1, 4, 0);
  items[3].set_id(2);
  ExpectRejected(items, absl::StatusCode::kInvalidArgument,
                 "items[3].id: 2 duplicates items[1].id");
}

TEST_F(BadIngestTest, RejectsIdAlreadyStored) {
  ASSERT_OK(store_->Ingest("r1", Batch(1, 3, 0)));
  stored_before_ = 3;
  auto items = Batch(10, 3, 1);
  items[1].set_id(2);
  ExpectRejected(items, absl::StatusCode::kAlreadyExists,
                 "items[1].id: item 2 already exists");
}

TEST_F(ItemStoreTest, ARedoneRoundsItemsAreRecognisedNotRefused) {
  RepeatedPtrField<v1::Item> round0 = Batch(1, 3, 0);
  ASSERT_OK(store_->Ingest("r1", round0));
  // The same items again, some with new ones: the stored ones are skipped.
  RepeatedPtrField<v1::Item> again = round0;
  *again.Add() = MakeItem(4, 0, rng_);
  ASSERT_OK(store_->Ingest("r1", again));
  EXPECT_EQ(ScanAll(0, 0).size(), 4u);
  // The same id with other content is still refused, naming the item.
  RepeatedPtrField<v1::Item> changed = round0;
  changed[2].set_title("other");
  EXPECT_THAT(store_->Ingest("r1", changed),
              StatusIs(absl::StatusCode::kAlreadyExists,
                       HasSubstr("items[2].id: item 3 already exists in run 'r1' "
                                 "with other content")));
  // ... and so is the same item claimed for another round.
  RepeatedPtrField<v1::Item> moved = Batch(2, 1, 1);
  moved[0] = round0[1];
  moved[0].set_round(1);
  EXPECT_THAT(store_->Ingest("r1", moved),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("item 2")));
  EXPECT_EQ(ScanAll(0, 5).size(), 4u);
}

// Ingest writes outside its lock (so concurrent batches share a WAL sync)
// and must still decide each id once: of two writers racing on the same ids
// with different content exactly one wins each batch, and a writer
// repeating a winner's batch byte for byte is told OK.
TEST_F(ItemStoreTest, ConcurrentIngestsOfTheSameIdsDecideEachIdOnce) {
  constexpr int kBatches = 40;
  constexpr int kPerBatch = 50;
  // Two versions of every batch: same ids, other titles.
  std::vector<RepeatedPtrField<v1::Item>> a, b;
  for (int k = 0; k < kBatches; ++k) {
    a.push_back(Batch(1 + k * kPerBatch, kPerBatch, 0));
    b.push_back(a.back());
    for (v1::Item& item : b.back()) item.set_title("other");
  }
  std::vector<absl::Status> a_status(kBatches), b_status(kBatches), a_again(kBatches);
  {
    std::vector<std::thread> writers;
    writers.emplace_back([&] {
      for (int k = 0; k < kBatches; ++k) a_status[k] = store_->Ingest("r1", a[k]);
    });
    writers.emplace_back([&] {
      for (int k = 0; k < kBatches; ++k) b_status[k] = store_->Ingest("r1", b[k]);
    });
    writers.emplace_back([&] {
      for (int k = 0; k < kBatches; ++k) a_again[k] = store_->Ingest("r1", a[k]);
    });
    for (std::thread& t : writers) t.join();
  }
  const std::vector<v1::Item> stored = ScanAll(0, 0);
  ASSERT_EQ(stored.size(), static_cast<size_t>(kBatches * kPerBatch));
  absl::flat_hash_map<uint64_t, std::string> title_of;
  for (const v1::Item& item : stored) title_of[item.id()] = item.title();
  for (int k = 0; k < kBatches; ++k) {
    // Exactly one version of the batch was accepted ...
    EXPECT_NE(a_status[k].ok(), b_status[k].ok())
        << "batch " << k << ": " << a_status[k] << " / " << b_status[k];
    const absl::Status& loser = a_status[k].ok() ? b_status[k] : a_status[k];
    EXPECT_EQ(loser.code(), absl::StatusCode::kAlreadyExists) << loser;
    // ... it is what is stored, whole ...
    const std::string want = a_status[k].ok() ? a[k][0].title() : "other";
    for (const v1::Item& item : a[k]) {
      EXPECT_EQ(title_of[item.id()].substr(0, 4), want.substr(0, 4)) << "id " << item.id();
    }
    // ... and its repeat is OK exactly when it repeats the winner (or came
    // first).
    if (a_status[k].ok()) {
      EXPECT_OK(a_again[k]);
    } else {
      EXPECT_EQ(a_again[k].code(), absl::StatusCode::kAlreadyExists) << a_again[k];
    }
  }
}

TEST_F(ItemStoreTest, ALeaseKeepsARunToItsOwnerUntilItExpires) {
  ASSERT_OK_AND_ASSIGN(v1::RunRecord run,
                       store_->ClaimRun("r1", "loop-a", absl::Seconds(1)));
  EXPECT_EQ(run.status(), v1::PENDING);  // the owner starts it
  EXPECT_EQ(run.owner(), "loop-a");
  EXPECT_GT(run.lease_expires_unix_ms(), run.created_unix_ms());
  // Another loop is refused while the lease runs, and told whose it is.
  EXPECT_THAT(store_->ClaimRun("r1", "loop-b", absl::Seconds(5)),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("owned by 'loop-a'")));
  // The owner renews; the same instance restarted takes it back at once.
  ASSERT_OK(store_->ClaimRun("r1", "loop-a", absl::Seconds(1)).status());
  // Once the lease has expired, another loop adopts the run, and the old
  // owner can no longer commit a round or end the run.
  clock_.Advance(absl::Milliseconds(999));
  EXPECT_THAT(store_->ClaimRun("r1", "loop-b", absl::Seconds(60)),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  clock_.Advance(absl::Milliseconds(2));
  ASSERT_OK_AND_ASSIGN(run, store_->ClaimRun("r1", "loop-b", absl::Seconds(60)));
  EXPECT_EQ(run.owner(), "loop-b");
  v1::WriteMetricsRequest commit;
  commit.set_run_id("r1");
  commit.set_round(0);
  commit.add_values()->set_name("content.vendi");
  commit.set_advance_progress(true);
  commit.set_owner("loop-a");
  EXPECT_THAT(store_->WriteMetrics(commit),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("owned by 'loop-b', not 'loop-a'")));
  v1::UpdateRunRequest end;
  end.set_run_id("r1");
  end.set_status(v1::FAILED);
  end.set_owner("loop-a");
  EXPECT_THAT(store_->UpdateRun(end),
              StatusIs(absl::StatusCode::kFailedPrecondition));
  ASSERT_OK_AND_ASSIGN(run, store_->GetRun("r1"));
  EXPECT_EQ(run.rounds_done(), 0u);
  EXPECT_EQ(run.status(), v1::PENDING);
  // The owner's final status releases the run; a DONE run is not claimed.
  end.set_status(v1::DONE);
  end.set_owner("loop-b");
  ASSERT_OK_AND_ASSIGN(run, store_->UpdateRun(end));
  EXPECT_EQ(run.owner(), "");
  EXPECT_THAT(store_->ClaimRun("r1", "loop-a", absl::Seconds(5)),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("DONE")));
  EXPECT_THAT(store_->ClaimRun("r1", "", absl::Seconds(5)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("owner")));
}

TEST_F(ItemStoreTest, ACheckpointIsCommittedWithItsRound) {
  v1::WriteMetricsRequest commit;
  commit.set_run_id("r1");
  commit.set_round(0);
  commit.add_values()->set_name("content.vendi");
  commit.mutable_checkpoint()->set_generator("state after round 0");
  // Only with the round's commit.
  commit.set_advance_progress(false);
  EXPECT_THAT(store_->WriteMetrics(commit),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("checkpoint")));
  EXPECT_THAT(store_->GetCheckpoint("r1", 0),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("round 0")));
  commit.set_advance_progress(true);
  ASSERT_OK(store_->WriteMetrics(commit));
  Reopen();
  ASSERT_OK_AND_ASSIGN(v1::RoundCheckpoint got, store_->GetCheckpoint("r1", 0));
  EXPECT_EQ(got.generator(), "state after round 0");
  ASSERT_OK_AND_ASSIGN(v1::RunRecord run, store_->GetRun("r1"));
  EXPECT_EQ(run.rounds_done(), 1u);
  EXPECT_THAT(store_->GetCheckpoint("nope", 0),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("nope")));
}

TEST_F(BadIngestTest, RejectsEmptyAndOversizedBatches) {
  ExpectRejected({}, absl::StatusCode::kInvalidArgument, "items: the batch is empty");
  ExpectRejected(Batch(1, 51, 0), absl::StatusCode::kInvalidArgument,
                 "51 items exceed the limit of 50");
}

TEST_F(BadIngestTest, RejectsIdsTheRankerCannotIndexRoundsOutsideTheRunAndLongTitles) {
  // The ids the ranker takes, [1, 2^63): 0 and 2^63 and up could be stored
  // but never indexed, and the round then never ranked.
  for (uint64_t id : {uint64_t{0}, uint64_t{1} << 63, ~uint64_t{0}}) {
    auto items = Batch(1, 2, 0);
    items[1].set_id(id);
    ExpectRejected(items, absl::StatusCode::kInvalidArgument,
                   absl::StrCat("items[1].id: must be in [1, 2^63), got ", id));
  }
  // Rounds of the run only (r1 has 30): 30, and -1 sent as a varint.
  for (uint32_t round : {30u, ~0u}) {
    auto items = Batch(1, 2, 0);
    items[0].set_round(round);
    ExpectRejected(items, absl::StatusCode::kInvalidArgument,
                   absl::StrCat("items[0].round: ", round, " is not a round of the run"));
  }
  RepeatedPtrField<v1::Interaction> xs;
  xs.Add()->set_item_id(1);
  EXPECT_THAT(store_->LogInteractions("r1", 30, xs),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("round: 30 is not a round of the run")));
  auto items = Batch(1, 2, 0);
  items = Batch(1, 2, 0);
  items[0].set_title(std::string(2000, 'x'));
  ExpectRejected(items, absl::StatusCode::kInvalidArgument, "items[0].title");
}

TEST_F(BadIngestTest, RejectsUnknownRun) {
  EXPECT_THAT(store_->Ingest("nope", Batch(1, 2, 0)),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("run 'nope'")));
  EXPECT_THAT(store_->Ingest("bad/id", Batch(1, 2, 0)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("run_id")));
}

TEST_F(ItemStoreTest, GetItemsNamesUnknownId) {
  ASSERT_OK(store_->Ingest("r1", Batch(1, 3, 0)));
  std::vector<uint64_t> ids = {1, 99};
  EXPECT_THAT(store_->GetItems("r1", ids),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("ids[1]: item 99 not found")));
}

TEST_F(ItemStoreTest, GetItemsIsBoundedByTheResponsesSize) {
  // 40 ids of a run at dim 4096 are 655 KB, more than this store's
  // responses carry (512 KiB; 48 MiB by default). Refused by size before
  // anything is read, saying how many fit.
  v1::RunRecord wide;
  wide.set_run_id("wide");
  wide.mutable_config()->mutable_space()->set_dim(4096);
  ASSERT_OK(store_->CreateRun(wide));
  std::vector<uint64_t> ids(40);
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = i + 1;
  EXPECT_THAT(store_->GetItems("wide", ids),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("ids: 40 items of dim 4096"),
                             HasSubstr("ask for at most 31 at a time"))));
  // At the run's own dimension the same count is fine (not found, here).
  EXPECT_THAT(store_->GetItems("r1", ids), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(ItemStoreTest, RunLifecycle) {
  EXPECT_THAT(store_->CreateRun(store_->GetRun("r1").value()),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("r1")));
  ASSERT_OK_AND_ASSIGN(auto run, store_->GetRun("r1"));
  EXPECT_EQ(run.status(), v1::PENDING);
  EXPECT_GT(run.created_unix_ms(), 0);
  v1::UpdateRunRequest update;
  update.set_run_id("r1");
  update.set_status(v1::RUNNING);
  ASSERT_OK_AND_ASSIGN(run, store_->UpdateRun(update));
  EXPECT_EQ(run.status(), v1::RUNNING);
  EXPECT_GT(run.started_unix_ms(), 0);
  update.set_status(v1::FAILED);
  update.set_error("boom");
  ASSERT_OK_AND_ASSIGN(run, store_->UpdateRun(update));
  EXPECT_GT(run.finished_unix_ms(), 0);
  EXPECT_EQ(run.error(), "boom");
  update.set_run_id("ghost");
  EXPECT_THAT(store_->UpdateRun(update),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("ghost")));
  ASSERT_OK_AND_ASSIGN(auto runs, store_->ListRuns());
  ASSERT_EQ(runs.size(), 1u);
  EXPECT_EQ(runs[0].run_id(), "r1");
}

TEST_F(ItemStoreTest, InteractionsRoundTripAndValidate) {
  ASSERT_OK(store_->Ingest("r1", Batch(1, 4, 0)));
  RepeatedPtrField<v1::Interaction> xs;
  for (uint32_t u : {5u, 2u}) {
    for (uint32_t pos = 0; pos < 3; ++pos) {
      v1::Interaction* x = xs.Add();
      x->set_user_id(u);
      x->set_position(pos);
      x->set_item_id(pos + 1);
      x->set_engaged(pos == 1);
    }
  }
  ASSERT_OK(store_->LogInteractions("r1", 0, xs));
  ASSERT_OK(store_->LogInteractions("r1", 1, xs));  // another round
  ASSERT_OK(store_->LogInteractions("r1", 1, xs));  // a retry: overwrites

  ASSERT_OK_AND_ASSIGN(auto cursor, store_->ScanInteractions("r1", 0, 1));
  std::vector<std::pair<uint32_t, std::vector<v1::Interaction>>> chunks;
  while (true) {
    std::vector<v1::Interaction> chunk;
    uint32_t round = 0;
    ASSERT_OK_AND_ASSIGN(bool more, cursor->Next(100, &round, &chunk));
    if (!chunk.empty()) chunks.emplace_back(round, chunk);
    if (!more) break;
  }
  ASSERT_EQ(chunks.size(), 2u);  // one chunk per round
  EXPECT_EQ(chunks[0].first, 0u);
  ASSERT_EQ(chunks[1].second.size(), 6u);
  // Sorted by user then position.
  EXPECT_EQ(chunks[1].second[0].user_id(), 2u);
  EXPECT_EQ(chunks[1].second[1].item_id(), 2u);
  EXPECT_TRUE(chunks[1].second[1].engaged());

  RepeatedPtrField<v1::Interaction> bad = xs;
  bad[4].set_user_id(100);
  EXPECT_THAT(store_->LogInteractions("r1", 2, bad),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("interactions[4].user_id: 100")));
  bad = xs;
  bad[2].set_item_id(77);
  EXPECT_THAT(store_->LogInteractions("r1", 2, bad),
              StatusIs(absl::StatusCode::kNotFound,
                       HasSubstr("interactions[2].item_id: item 77")));
  bad = xs;
  bad[3].set_user_id(5);
  bad[3].set_position(0);
  EXPECT_THAT(store_->LogInteractions("r1", 2, bad),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("appears twice")));
  ASSERT_OK_AND_ASSIGN(cursor, store_->ScanInteractions("r1", 2, 2));
  std::vector<v1::Interaction> none;
  uint32_t round = 0;
  ASSERT_OK(cursor->Next(100, &round, &none).status());
  EXPECT_TRUE(none.empty());
}

TEST_F(ItemStoreTest, MetricSeriesAndProgress) {
  for (uint32_t round = 0; round < 4; ++round) {
    RepeatedPtrField<v1::MetricValue> values;
    for (const char* name : {"content.vendi", "content.dispersion",
                             "exposure.coverage"}) {
      v1::MetricValue* v = values.Add();
      v->set_name(name);
      v->set_value(round * 10 + std::string(name).size());
    }
    ASSERT_OK(store_->WriteMetrics(Commit("r1", round, values)));
  }
  ASSERT_OK_AND_ASSIGN(auto run, store_->GetRun("r1"));
  EXPECT_EQ(run.rounds_done(), 4u);

  std::vector<std::string> filter = {"content."};
  ASSERT_OK_AND_ASSIGN(auto series, store_->ReadSeries("r1", filter, 1, 2));
  ASSERT_EQ(series.size(), 2u);
  EXPECT_EQ(series[0].metric(), "content.dispersion");
  EXPECT_THAT(series[0].rounds(), ::testing::ElementsAre(1, 2));
  EXPECT_THAT(series[1].values(), ::testing::ElementsAre(23, 33));

  ASSERT_OK_AND_ASSIGN(auto rounds, store_->ReadRounds("r1", 2, {}));
  ASSERT_EQ(rounds.size(), 2u);
  EXPECT_EQ(rounds[0].round(), 2u);
  EXPECT_EQ(rounds[0].values_size(), 3);

  RepeatedPtrField<v1::MetricValue> bad;
  bad.Add()->set_name("content.vendi");
  bad[0].set_value(std::nan(""));
  EXPECT_THAT(store_->WriteMetrics(Commit("r1", 9, bad)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("values[0].value")));
  ASSERT_OK_AND_ASSIGN(run, store_->GetRun("r1"));
  EXPECT_EQ(run.rounds_done(), 4u);
}

TEST_F(ItemStoreTest, AbsentValuesKeepTheirReasonAndNeverReadAsNumbers) {
  for (uint32_t round = 0; round < 3; ++round) {
    RepeatedPtrField<v1::MetricValue> values;
    v1::MetricValue* v = values.Add();
    v->set_name("lifecycle.never_seen");
    if (round == 1) {
      v->set_value(0.5);
    } else {
      v->set_absent("no item expires this round");
    }
    ASSERT_OK(store_->WriteMetrics(Commit("r1", round, values)));
  }
  ASSERT_OK_AND_ASSIGN(auto series, store_->ReadSeries("r1", {}, 0, 10));
  ASSERT_EQ(series.size(), 1u);
  EXPECT_THAT(series[0].rounds(), ::testing::ElementsAre(1));
  EXPECT_THAT(series[0].values(), ::testing::ElementsAre(0.5));
  EXPECT_THAT(series[0].absent_rounds(), ::testing::ElementsAre(0, 2));
  EXPECT_THAT(series[0].absent_reasons(),
              ::testing::ElementsAre("no item expires this round",
                                     "no item expires this round"));
  ASSERT_OK_AND_ASSIGN(auto rounds, store_->ReadRounds("r1", 0, {}));
  ASSERT_EQ(rounds.size(), 3u);
  EXPECT_EQ(rounds[0].values(0).absent(), "no item expires this round");
  EXPECT_EQ(rounds[1].values(0).value(), 0.5);
  EXPECT_TRUE(rounds[1].values(0).absent().empty());

  // An absence has no value, and its reason is bounded.
  RepeatedPtrField<v1::MetricValue> bad;
  bad.Add()->set_name("content.vendi");
  bad[0].set_absent("why");
  bad[0].set_value(1);
  EXPECT_THAT(store_->WriteMetrics(Commit("r1", 5, bad)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("has a value")));
  bad[0].set_value(0);
  bad[0].set_absent(std::string(201, 'x'));
  EXPECT_THAT(store_->WriteMetrics(Commit("r1", 5, bad)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("values[0].absent")));
}

TEST(ItemStore, OpenFailsClearlyWhenLocked) {
  const std::string path = absl::StrCat(::testing::TempDir(), "/locked_store_", getpid());
  std::filesystem::remove_all(path);
  ItemStore::Options options;
  options.path = path;
  ASSERT_OK_AND_ASSIGN(auto first, ItemStore::Open(options));
  EXPECT_THAT(ItemStore::Open(options),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr(path)));
  options.path = "";
  EXPECT_THAT(ItemStore::Open(options),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("path")));
}

}  // namespace
}  // namespace feedloop::store
