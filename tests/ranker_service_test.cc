// The ranker service over gRPC against a real (in-process) store: the round
// protocol, bad input over the wire, and restart. A ranker started against a
// store holding a run must serve exactly what the ranker before it served.

#include <time.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/random.h"
#include "rpc/server.h"
#include "common/status.h"
#include "common/vectors.h"
#include "feedloop/v1/ranker.grpc.pb.h"
#include "common/memory_budget.h"
#include "config/config.h"
#include "config/cost.h"
#include "config/limits.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "stack/ranker_server.h"
#include "store/store_client.h"
#include "stack/store_server.h"
#include "testing/status_matchers.h"
#include "rpc/grpc_status.h"

namespace feedloop {
namespace {

using ::feedloop::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr uint32_t kDim = 16;
constexpr uint32_t kUsers = 120;

v1::ExperimentConfig Config(v1::RankerConfig::IndexType index) {
  v1::ExperimentConfig c;
  c.set_seed(3);
  c.mutable_space()->set_dim(kDim);
  c.mutable_users()->set_count(kUsers);
  c.mutable_ranker()->set_index(index);
  c.mutable_ranker()->set_ivf_nlist(8);
  c.mutable_ranker()->set_ivf_nprobe(2);
  c.mutable_ranker()->set_candidates(40);
  c.mutable_ranker()->set_item_ttl_rounds(3);  // 450 live: IVF (8 lists) trains
  c.mutable_ranker()->set_mmr_lambda(0.2);
  c.mutable_ranker()->set_epsilon(0.1);
  c.mutable_ranker()->set_rebuild_dead_fraction(0.3);
  return c;
}

class RankerServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(::testing::TempDir(), "/ranker_service_",
                        ::testing::UnitTest::GetInstance()
                            ->current_test_info()
                            ->name());
    std::filesystem::remove_all(dir_);
    stack::StoreServer::Options so;
    so.data_dir = dir_;
    so.threads = 2;
    ASSERT_OK_AND_ASSIGN(store_server_, stack::StoreServer::Start(so));
    store_ = std::make_unique<store::StoreClient>(
        CreateChannel(store_server_->address()));
    StartRanker();
  }
  void TearDown() override {
    ranker_server_.reset();
    store_server_.reset();
    std::filesystem::remove_all(dir_);
  }
  void StartRanker(uint64_t memory_budget = 0) {
    ranker_server_.reset();
    stack::RankerServer::Options ro;
    if (memory_budget > 0) ro.memory_budget = std::make_shared<MemoryBudget>(memory_budget);
    ro.store_address = store_server_->address();
    ro.threads = 2;
    ro.search_threads = 1;
    auto server = stack::RankerServer::Start(ro);
    ASSERT_OK(server.status());
    ranker_server_ = *std::move(server);
    auto channel = CreateChannel(ranker_server_->address());
    ranker_ = v1::RankerService::NewStub(channel);
    health_ = grpc::health::v1::Health::NewStub(channel);
  }

  std::vector<v1::Item> Items(uint32_t round, int n) {
    std::vector<v1::Item> items;
    for (int i = 0; i < n; ++i) {
      v1::Item item;
      item.set_id((uint64_t{round} << 32) | (i + 1));
      item.set_round(round);
      std::vector<float> e(kDim);
      for (float& x : e) x = static_cast<float>(rng_.Normal());
      Normalize(std::span<float>(e));
      item.mutable_embedding()->Assign(e.begin(), e.end());
      items.push_back(item);
    }
    return items;
  }

  absl::StatusOr<v1::RankBatchResponse> RankAll() {
    v1::RankBatchRequest req;
    req.set_run_id("run");
    for (uint32_t u = 0; u < kUsers; ++u) req.add_users()->set_user_id(u);
    grpc::ClientContext ctx;
    v1::RankBatchResponse resp;
    FEEDLOOP_RETURN_IF_ERROR(FromGrpcStatus(ranker_->RankBatch(&ctx, req, &resp)));
    return resp;
  }

  absl::Status Advance(uint32_t round) {
    v1::AdvanceRoundRequest req;
    req.set_run_id("run");
    req.set_round(round);
    grpc::ClientContext ctx;
    v1::RankerRunState resp;
    return FromGrpcStatus(ranker_->AdvanceRound(&ctx, req, &resp));
  }

  // One round as the loop plays it: ingest, advance, rank, log and send
  // feedback (every third impression engaged), mark the round done.
  void PlayRound(uint32_t round) {
    ASSERT_OK(store_->Ingest("run", Items(round, 150)));
    ASSERT_OK(Advance(round));
    ASSERT_OK_AND_ASSIGN(auto slates, RankAll());
    std::vector<v1::Interaction> xs;
    for (const auto& s : slates.slates()) {
      for (int p = 0; p < s.item_ids_size(); ++p) {
        v1::Interaction x;
        x.set_user_id(s.user_id());
        x.set_item_id(s.item_ids(p));
        x.set_position(p);
        x.set_engaged((s.user_id() + p) % 3 == 0);
        xs.push_back(x);
      }
    }
    ASSERT_OK(store_->LogInteractions("run", round, xs));
    v1::RecordFeedbackRequest fb;
    fb.set_run_id("run");
    fb.set_round(round);
    fb.mutable_interactions()->Add(xs.begin(), xs.end());
    grpc::ClientContext ctx;
    v1::RecordFeedbackResponse resp;
    ASSERT_OK(FromGrpcStatus(ranker_->RecordFeedback(&ctx, fb, &resp)));
    v1::WriteMetricsRequest commit;
    commit.set_run_id("run");
    commit.set_round(round);
    v1::MetricValue* done = commit.add_values();
    done->set_name("loop.round");
    done->set_value(round);
    commit.set_advance_progress(true);
    ASSERT_OK(store_->WriteMetrics(commit));
  }

  std::string dir_;
  Rng rng_{21};
  std::unique_ptr<stack::StoreServer> store_server_;
  std::unique_ptr<store::StoreClient> store_;
  std::unique_ptr<stack::RankerServer> ranker_server_;
  std::unique_ptr<v1::RankerService::Stub> ranker_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
};

class RankerRestartTest
    : public RankerServiceTest,
      public ::testing::WithParamInterface<v1::RankerConfig::IndexType> {};

TEST_P(RankerRestartTest, RestartedRankerServesTheSameSlates) {
  v1::RunRecord run;
  run.set_run_id("run");
  *run.mutable_config() = Config(GetParam());
  run.set_status(v1::RUNNING);
  ASSERT_OK(store_->CreateRun(run).status());
  v1::OpenRunRequest open;
  open.set_run_id("run");
  *open.mutable_config() = run.config();
  {
    grpc::ClientContext ctx;
    v1::RankerRunState state;
    ASSERT_OK(FromGrpcStatus(ranker_->OpenRun(&ctx, open, &state)));
  }
  for (uint32_t round = 0; round < 5; ++round) PlayRound(round);
  ASSERT_OK(store_->Ingest("run", Items(5, 150)));
  ASSERT_OK(Advance(5));
  ASSERT_OK_AND_ASSIGN(auto before, RankAll());

  // A new ranker process-equivalent: it finds the RUNNING run in the store
  // and replays it before serving.
  StartRanker();
  grpc::ClientContext hctx;
  grpc::health::v1::HealthCheckResponse health;
  ASSERT_TRUE(health_->Check(&hctx, {}, &health).ok());
  EXPECT_EQ(health.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  ASSERT_OK(Advance(5));
  ASSERT_OK_AND_ASSIGN(auto after, RankAll());
  ASSERT_EQ(before.slates_size(), after.slates_size());
  EXPECT_EQ(before.SerializeAsString(), after.SerializeAsString());
}

INSTANTIATE_TEST_SUITE_P(AllIndexes, RankerRestartTest,
                         ::testing::Values(v1::RankerConfig::FLAT,
                                           v1::RankerConfig::IVF,
                                           v1::RankerConfig::HNSW),
                         [](const auto& info) {
                           return v1::RankerConfig::IndexType_Name(info.param);
                         });

TEST_F(RankerServiceTest, BadRequestsAreNamed) {
  v1::RunRecord run;
  run.set_run_id("run");
  *run.mutable_config() = Config(v1::RankerConfig::FLAT);
  ASSERT_OK(store_->CreateRun(run).status());
  v1::OpenRunRequest open;
  open.set_run_id("run");
  *open.mutable_config() = run.config();
  open.mutable_config()->mutable_ranker()->set_epsilon(2);
  grpc::ClientContext c1;
  v1::RankerRunState state;
  EXPECT_THAT(FromGrpcStatus(ranker_->OpenRun(&c1, open, &state)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("ranker.epsilon")));
  // Not opened by the bad OpenRun; a read opens it from the store's
  // record (the replicas' path), which has no items yet.
  EXPECT_THAT(RankAll(), StatusIs(absl::StatusCode::kFailedPrecondition,
                                  HasSubstr("no items yet")));
  {
    v1::RankBatchRequest req;
    req.set_run_id("nosuchrun");
    req.add_users()->set_user_id(0);
    grpc::ClientContext ctx;
    v1::RankBatchResponse resp;
    EXPECT_THAT(FromGrpcStatus(ranker_->RankBatch(&ctx, req, &resp)),
                StatusIs(absl::StatusCode::kNotFound,
                         HasSubstr("'nosuchrun' is not open on this ranker")));
  }
  open.mutable_config()->mutable_ranker()->set_epsilon(0);
  grpc::ClientContext c2;
  ASSERT_OK(FromGrpcStatus(ranker_->OpenRun(&c2, open, &state)));
  ASSERT_OK(store_->Ingest("run", Items(0, 50)));
  EXPECT_THAT(Advance(3), StatusIs(absl::StatusCode::kFailedPrecondition,
                                   HasSubstr("round 0")));
  ASSERT_OK(Advance(0));
  ASSERT_OK(Advance(0));  // a retry is harmless

  v1::RetrieveRequest retrieve;
  retrieve.set_run_id("run");
  retrieve.set_k(5);
  retrieve.mutable_queries()->Resize(kDim, 0.0f);
  {
    // The request says its rows' dimension, so a wrong one is told apart
    // from a different row count.
    grpc::ClientContext c;
    v1::RetrieveResponse r;
    EXPECT_THAT(FromGrpcStatus(ranker_->Retrieve(&c, retrieve, &r)),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("dim: give")));
    v1::RetrieveRequest halves = retrieve;
    halves.mutable_queries()->Resize(kDim * 2, 0.5f);
    halves.set_dim(kDim * 2);
    grpc::ClientContext c2;
    EXPECT_THAT(FromGrpcStatus(ranker_->Retrieve(&c2, halves, &r)),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr(absl::StrCat("dim: ", kDim * 2, " is not this run's"))));
  }
  retrieve.set_dim(kDim);
  retrieve.set_queries(2, std::nanf(""));
  grpc::ClientContext c3;
  v1::RetrieveResponse rr;
  EXPECT_THAT(FromGrpcStatus(ranker_->Retrieve(&c3, retrieve, &rr)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("queries[row 0][2]: is NaN")));
  retrieve.set_queries(2, 1.0f);
  grpc::ClientContext c4;
  ASSERT_OK(FromGrpcStatus(ranker_->Retrieve(&c4, retrieve, &rr)));
  ASSERT_EQ(rr.results_size(), 1);
  EXPECT_EQ(rr.results(0).item_ids_size(), 5);

  v1::ScoreItemsRequest score;
  score.set_run_id("run");
  score.mutable_candidates()->Resize(kDim * 2, 0.25f);
  score.set_dim(kDim);
  {
    // More scoring users than a request may name: refused before any work.
    v1::ScoreItemsRequest many = score;
    for (size_t i = 0; i <= config::kMaxScoreUsers; ++i) many.add_user_ids(0);
    grpc::ClientContext c;
    v1::ScoreItemsResponse r;
    EXPECT_THAT(FromGrpcStatus(ranker_->ScoreItems(&c, many, &r)),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("user_ids: 100001 users exceed the limit")));
  }
  score.add_user_ids(kUsers + 5);
  grpc::ClientContext c5;
  v1::ScoreItemsResponse sr;
  EXPECT_THAT(FromGrpcStatus(ranker_->ScoreItems(&c5, score, &sr)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("user_ids[0]: 125")));
  score.clear_user_ids();
  score.set_sample_users(1000);  // more than the run's users: all of them
  {
    // Context rows are whole rows of the run's dimension, like candidates.
    v1::ScoreItemsRequest ragged = score;
    ragged.mutable_context()->Resize(kDim + 1, 0.25f);
    grpc::ClientContext c;
    v1::ScoreItemsResponse r;
    EXPECT_THAT(FromGrpcStatus(ranker_->ScoreItems(&c, ragged, &r)),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("context: ")));
  }
  grpc::ClientContext c6;
  ASSERT_OK(FromGrpcStatus(ranker_->ScoreItems(&c6, score, &sr)));
  EXPECT_EQ(sr.scores_size(), 2);
  // With context (one more item of the round) it still answers each row.
  score.mutable_context()->Resize(kDim, 0.25f);
  grpc::ClientContext c7;
  ASSERT_OK(FromGrpcStatus(ranker_->ScoreItems(&c7, score, &sr)));
  EXPECT_EQ(sr.scores_size(), 2);
}

absl::Status OpenRun(v1::RankerService::Stub* ranker, const std::string& run_id,
                     const v1::ExperimentConfig& config) {
  v1::OpenRunRequest open;
  open.set_run_id(run_id);
  *open.mutable_config() = config;
  grpc::ClientContext ctx;
  v1::RankerRunState state;
  return FromGrpcStatus(ranker->OpenRun(&ctx, open, &state));
}

TEST_F(RankerServiceTest, RunsAreAdmittedByTheirEstimatedMemory) {
  // Room for one run of this config, not two.
  const v1::ExperimentConfig config = Config(v1::RankerConfig::FLAT);
  const uint64_t one =
      config::EstimateRunMemory(config, config::Service::kRanker).bytes;
  StartRanker(one + one / 2);
  ASSERT_OK(OpenRun(ranker_.get(), "a", config));
  EXPECT_THAT(OpenRun(ranker_.get(), "b", config),
              StatusIs(absl::StatusCode::kResourceExhausted,
                       HasSubstr("held by the runs it serves now")));
  {
    v1::CloseRunRequest close;
    close.set_run_id("a");
    grpc::ClientContext ctx;
    v1::CloseRunResponse resp;
    ASSERT_OK(FromGrpcStatus(ranker_->CloseRun(&ctx, close, &resp)));
  }
  EXPECT_OK(OpenRun(ranker_.get(), "b", config));  // a's memory was let go

  // Every field in range, but 10^7 users at dim 4096: refused before any
  // allocation, naming the fields and the estimate, and the ranker serves
  // on.
  v1::ExperimentConfig huge = config;
  huge.mutable_users()->set_count(10000000);
  huge.mutable_space()->set_dim(4096);
  ASSERT_OK(config::ValidateConfig(huge));
  EXPECT_THAT(OpenRun(ranker_.get(), "huge", huge),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("users.count x space.dim"),
                             HasSubstr("memory budget is"), HasSubstr("--memory_budget"))));
  EXPECT_OK(OpenRun(ranker_.get(), "b", config));
}

TEST_F(RankerServiceTest, ARunRebuiltInPlaceKeepsItsReservation) {
  // Room for one run: redoing round 0 of a run at round 1 rebuilds it, and
  // the rebuilt run must not be counted beside its old self.
  v1::RunRecord run;
  run.set_run_id("run");
  *run.mutable_config() = Config(v1::RankerConfig::FLAT);
  run.set_status(v1::RUNNING);
  const uint64_t one =
      config::EstimateRunMemory(run.config(), config::Service::kRanker).bytes;
  StartRanker(one + one / 2);
  ASSERT_OK(store_->CreateRun(run).status());
  ASSERT_OK(OpenRun(ranker_.get(), "run", run.config()));
  PlayRound(0);
  ASSERT_OK(store_->Ingest("run", Items(1, 150)));
  ASSERT_OK(Advance(1));
  EXPECT_OK(OpenRun(ranker_.get(), "run", run.config()));  // round 0 again
  EXPECT_THAT(OpenRun(ranker_.get(), "other", run.config()),
              StatusIs(absl::StatusCode::kResourceExhausted));
}

// The CPU time this process has used.
absl::Duration ProcessCpu() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return absl::DurationFromTimespec(t);
}

TEST_F(RankerServiceTest, AHeavyCallStopsWorkingSoonAfterItsDeadline) {
  v1::RunRecord run;
  run.set_run_id("run");
  *run.mutable_config() = Config(v1::RankerConfig::FLAT);
  run.set_status(v1::RUNNING);
  ASSERT_OK(store_->CreateRun(run).status());
  ASSERT_OK(OpenRun(ranker_.get(), "run", run.config()));
  for (uint32_t round = 0; round < 2; ++round) PlayRound(round);

  // The most rows a ScoreItems may carry, scored by every user: seconds
  // of work, inside every limit.
  v1::ScoreItemsRequest score;
  score.set_run_id("run");
  score.set_dim(kDim);
  for (uint32_t u = 0; u < kUsers; ++u) score.add_user_ids(u);
  const size_t rows = config::kMaxScoreRows;
  ASSERT_LE(uint64_t{rows} * kUsers * kDim, config::kMaxScoreWork);
  std::vector<float> e(kDim);
  for (size_t r = 0; r < rows; ++r) {
    for (float& x : e) x = static_cast<float>(rng_.Normal());
    Normalize(std::span<float>(e));
    score.mutable_candidates()->Add(e.begin(), e.end());
  }
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Milliseconds(100)));
  v1::ScoreItemsResponse resp;
  EXPECT_THAT(FromGrpcStatus(ranker_->ScoreItems(&ctx, score, &resp)),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
  // Within 200 ms of the deadline the server is idle: over the next half
  // second it uses a small fraction of one core (the work alone would
  // keep both busy for seconds).
  absl::SleepFor(absl::Milliseconds(200));
  const absl::Duration before = ProcessCpu();
  absl::SleepFor(absl::Milliseconds(500));
  EXPECT_LT(ProcessCpu() - before, absl::Milliseconds(100));
}

}  // namespace
}  // namespace feedloop
