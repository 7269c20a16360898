// The loop end to end on the embedded stack: determinism whatever the batch
// size and thread count, and ExperimentService over gRPC.

#include <filesystem>
#include <iostream>
#include <map>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "config/config.h"
#include "feedloop/v1/diversity.pb.h"
#include "feedloop/v1/experiment.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "loop/experiment_service.h"
#include "metrics/catalog.h"
#include "rpc/grpc_status.h"
#include "rpc/server.h"
#include "stack/embedded_stack.h"
#include "stack/loop_server.h"
#include "store/store_client.h"
#include "testing/status_matchers.h"

namespace feedloop {
namespace {

using ::feedloop::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

v1::ExperimentConfig Tiny() {
  auto c = config::ParseConfig(R"(
      name: "tiny" seed: 7 rounds: 6
      space { dim: 16 topics: 6 }
      users { count: 300 drift: 0.1 }
      creators { count: 20 items_per_round: 5 }
      generator { alpha: 0.5 reward_users: 64 ai_share: 0.2 }
      ranker { candidates: 30 item_ttl_rounds: 3 mmr_lambda: 0.2 epsilon: 0.05 })",
                               "tiny");
  EXPECT_OK(c.status());
  return *c;
}

class LoopTest : public ::testing::Test {
 protected:
  std::unique_ptr<stack::EmbeddedStack> Stack(int threads) {
    const std::string dir = absl::StrCat(
        ::testing::TempDir(), "/loop_",
        ::testing::UnitTest::GetInstance()->current_test_info()->name(), "_",
        threads);
    std::filesystem::remove_all(dir);
    dirs_.push_back(dir);
    stack::EmbeddedStack::Options options;
    options.data_dir = dir;
    options.threads = threads;
    auto stack = stack::EmbeddedStack::Start(options);
    EXPECT_OK(stack.status());
    return stack.ok() ? *std::move(stack) : nullptr;
  }
  void TearDown() override {
    for (const auto& d : dirs_) std::filesystem::remove_all(d);
  }
  // (metric, round) -> value of one run.
  std::map<std::pair<std::string, uint32_t>, double> Values(
      stack::EmbeddedStack* stack, const std::string& run_id) {
    std::map<std::pair<std::string, uint32_t>, double> out;
    v1::GetSeriesRequest req;
    req.add_run_ids(run_id);
    auto series = stack->store()->GetSeries(req);
    EXPECT_OK(series.status());
    for (const auto& s : series->series()) {
      for (int i = 0; i < s.rounds_size(); ++i) {
        out[{s.metric(), s.rounds(i)}] = s.values(i);
      }
    }
    return out;
  }
  std::vector<std::string> dirs_;
};

TEST_F(LoopTest, SameSeedSameMetricsWhateverBatchSizeOrThreads) {
  std::vector<std::map<std::pair<std::string, uint32_t>, double>> results;
  for (auto [threads, batch] : {std::pair{1, 300}, std::pair{2, 37}, std::pair{3, 1}}) {
    auto stack = Stack(threads);
    ASSERT_NE(stack, nullptr);
    auto config = Tiny();
    config.mutable_execution()->set_rank_batch_size(batch);
    config.mutable_execution()->set_threads(threads);
    ASSERT_OK_AND_ASSIGN(auto started, stack->experiments()->Start(config));
    stack->experiments()->WaitUntilIdle();
    ASSERT_OK_AND_ASSIGN(auto run, stack->store()->GetRun(started.run_ids(0)));
    ASSERT_EQ(run.status(), v1::DONE) << run.error();
    EXPECT_EQ(run.rounds_done(), 6u);
    results.push_back(Values(stack.get(), started.run_ids(0)));
  }
  // Every metric of the catalog (DESIGN.md section 4) is there (lifecycle
  // ones once items expire), every recorded metric is in the catalog, and
  // the three runs agree bit for bit.
  for (const metrics::MetricInfo& m : metrics::MetricCatalog()) {
    EXPECT_TRUE(results[0].count({std::string(m.name), 5})) << m.name << " missing";
  }
  for (const auto& [key, value] : results[0]) {
    EXPECT_FALSE(metrics::DescribeMetric(key.first).empty())
        << key.first << " is recorded but not in metrics/catalog.cc";
  }
  EXPECT_GT(results[0].size(), 100u);
  EXPECT_EQ(results[0], results[1]);
  EXPECT_EQ(results[0], results[2]);
  EXPECT_GT(results[0].at({"exposure.ai_share", 5}), 0);
}

TEST_F(LoopTest, ExperimentServiceOverGrpc) {
  auto stack = Stack(2);
  ASSERT_NE(stack, nullptr);
  auto channel = CreateChannel(stack->loop_address());
  auto stub = v1::ExperimentService::NewStub(channel);

  // A bad config is refused before anything runs, naming the field.
  v1::StartRunRequest bad;
  *bad.mutable_config() = Tiny();
  bad.mutable_config()->mutable_generator()->set_alpha(3);
  v1::StartRunResponse started;
  {
    grpc::ClientContext ctx;
    EXPECT_THAT(FromGrpcStatus(stub->StartRun(&ctx, bad, &started)),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("generator.alpha")));
  }
  // A sweep of two points: two runs, one sweep id.
  v1::StartRunRequest req;
  *req.mutable_config() = Tiny();
  req.mutable_config()->mutable_sweep()->set_parameter("ranker.mmr_lambda");
  req.mutable_config()->mutable_sweep()->add_values("0");
  req.mutable_config()->mutable_sweep()->add_values("0.5");
  {
    grpc::ClientContext ctx;
    ASSERT_OK(FromGrpcStatus(stub->StartRun(&ctx, req, &started)));
  }
  ASSERT_EQ(started.run_ids_size(), 2);
  EXPECT_FALSE(started.sweep_id().empty());

  // WatchRun streams every round of the first run, in order, then ends.
  v1::WatchRunRequest watch;
  watch.set_run_id(started.run_ids(0));
  watch.add_metrics("content.");
  grpc::ClientContext wctx;
  auto reader = stub->WatchRun(&wctx, watch);
  v1::RoundMetrics rm;
  std::vector<uint32_t> rounds;
  while (reader->Read(&rm)) {
    rounds.push_back(rm.round());
    for (const auto& v : rm.values()) EXPECT_EQ(v.name().rfind("content.", 0), 0u);
    EXPECT_EQ(rm.values_size(), 6);  // the six content metrics
  }
  ASSERT_OK(FromGrpcStatus(reader->Finish()));
  EXPECT_THAT(rounds, ::testing::ElementsAre(0, 1, 2, 3, 4, 5));
  stack->experiments()->WaitUntilIdle();

  v1::GetRunRequest get;
  get.set_run_id(started.run_ids(1));
  v1::RunRecord run;
  {
    grpc::ClientContext ctx;
    ASSERT_OK(FromGrpcStatus(stub->GetRun(&ctx, get, &run)));
  }
  EXPECT_EQ(run.status(), v1::DONE);
  EXPECT_EQ(run.sweep_value(), "0.5");
  EXPECT_DOUBLE_EQ(run.config().ranker().mmr_lambda(), 0.5);

  // Any loop watches any run the store has, from the store's committed
  // rounds: a second loop that never played the run sees its rounds too.
  {
    stack::LoopServer::Options lo;
    lo.store_address = stack->store_address();
    lo.ranker_address = stack->ranker_address();
    lo.generator_address = stack->generator_address();
    lo.owner = "other";
    ASSERT_OK_AND_ASSIGN(auto other, stack::LoopServer::Start(lo));
    auto other_stub = v1::ExperimentService::NewStub(CreateChannel(other->address()));
    v1::WatchRunRequest from3 = watch;
    from3.set_from_round(3);
    grpc::ClientContext octx;
    auto oreader = other_stub->WatchRun(&octx, from3);
    std::vector<uint32_t> seen;
    while (oreader->Read(&rm)) seen.push_back(rm.round());
    ASSERT_OK(FromGrpcStatus(oreader->Finish()));
    EXPECT_THAT(seen, ::testing::ElementsAre(3, 4, 5));
  }

  v1::WatchRunRequest unknown;
  unknown.set_run_id("nope");
  grpc::ClientContext uctx;
  auto ureader = stub->WatchRun(&uctx, unknown);
  EXPECT_FALSE(ureader->Read(&rm));
  EXPECT_THAT(FromGrpcStatus(ureader->Finish()),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("nope")));
}

TEST_F(LoopTest, StopRunEndsARunAfterItsCurrentRound) {
  auto stack = Stack(2);
  ASSERT_NE(stack, nullptr);
  auto stub = v1::ExperimentService::NewStub(CreateChannel(stack->loop_address()));
  auto config = Tiny();
  config.set_rounds(10000);
  v1::StartRunRequest req;
  *req.mutable_config() = config;
  v1::StartRunResponse started;
  {
    grpc::ClientContext ctx;
    ASSERT_OK(FromGrpcStatus(stub->StartRun(&ctx, req, &started)));
  }
  // Wait for the first round, then stop.
  v1::WatchRunRequest watch;
  watch.set_run_id(started.run_ids(0));
  grpc::ClientContext wctx;
  auto reader = stub->WatchRun(&wctx, watch);
  v1::RoundMetrics rm;
  ASSERT_TRUE(reader->Read(&rm));
  v1::StopRunRequest stop;
  stop.set_run_id(started.run_ids(0));
  v1::RunRecord record;
  {
    grpc::ClientContext ctx;
    ASSERT_OK(FromGrpcStatus(stub->StopRun(&ctx, stop, &record)));
  }
  while (reader->Read(&rm)) {
  }
  ASSERT_OK(FromGrpcStatus(reader->Finish()));
  stack->experiments()->WaitUntilIdle();
  ASSERT_OK_AND_ASSIGN(auto run, stack->store()->GetRun(started.run_ids(0)));
  EXPECT_EQ(run.status(), v1::STOPPED);
  EXPECT_LT(run.rounds_done(), 10000u);
  EXPECT_GT(run.finished_unix_ms(), 0);
}

TEST_F(LoopTest, StartRunRefusesAConfigBeyondTheMemoryBudgetAndWritesNothing) {
  auto stack = Stack(2);
  ASSERT_NE(stack, nullptr);
  auto stub = v1::ExperimentService::NewStub(CreateChannel(stack->loop_address()));
  // Every field inside its documented range: 10^7 users at dim 4096.
  v1::StartRunRequest req;
  *req.mutable_config() = Tiny();
  req.mutable_config()->mutable_users()->set_count(10000000);
  req.mutable_config()->mutable_space()->set_dim(4096);
  ASSERT_OK(config::ValidateConfig(req.config()));
  v1::StartRunResponse resp;
  grpc::ClientContext ctx;
  EXPECT_THAT(FromGrpcStatus(stub->StartRun(&ctx, req, &resp)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("loop: the experiment with its ranker and generator "
                                       "needs an estimated"),
                             HasSubstr("users.count x space.dim"),
                             HasSubstr("memory budget is"))));
  const v1::RunStatus any[] = {v1::PENDING, v1::RUNNING, v1::DONE, v1::FAILED, v1::STOPPED};
  ASSERT_OK_AND_ASSIGN(std::vector<v1::RunRecord> runs, stack->store()->ListRuns(any));
  EXPECT_TRUE(runs.empty());
  // The loop serves on.
  *req.mutable_config() = Tiny();
  grpc::ClientContext ok_ctx;
  EXPECT_OK(FromGrpcStatus(stub->StartRun(&ok_ctx, req, &resp)));
}

TEST_F(LoopTest, ASweepStopsBeingRecordedAtTheCallersDeadline) {
  auto stack = Stack(2);
  ASSERT_NE(stack, nullptr);
  auto stub = v1::ExperimentService::NewStub(CreateChannel(stack->loop_address()));
  // 1000 values x 100 replicates: 100000 run records, far more than a
  // second can write.
  v1::StartRunRequest req;
  *req.mutable_config() = Tiny();
  req.mutable_config()->mutable_sweep()->set_parameter("generator.alpha");
  for (int i = 0; i < 1000; ++i) {
    req.mutable_config()->mutable_sweep()->add_values(absl::StrCat(i / 1000.0));
  }
  req.mutable_config()->mutable_sweep()->set_replicates(100);
  v1::StartRunResponse resp;
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
  EXPECT_THAT(FromGrpcStatus(stub->StartRun(&ctx, req, &resp)),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
  // Soon after, no more records appear, and those written are STOPPED
  // with the reason: none is left PENDING for nobody to play.
  const v1::RunStatus any[] = {v1::PENDING, v1::RUNNING, v1::DONE, v1::FAILED, v1::STOPPED};
  std::vector<v1::RunRecord> runs;
  int settled = 0;
  for (int polls = 0; settled < 5 && polls < 50; ++polls) {
    absl::SleepFor(absl::Milliseconds(200));
    ASSERT_OK_AND_ASSIGN(std::vector<v1::RunRecord> now, stack->store()->ListRuns(any));
    bool all_stopped = true;
    for (const auto& r : now) all_stopped &= r.status() == v1::STOPPED;
    settled = now.size() == runs.size() && all_stopped ? settled + 1 : 0;
    runs = std::move(now);
  }
  ASSERT_EQ(settled, 5) << runs.size() << " records, still changing or not all STOPPED";
  std::cout << runs.size() << " of 100000 runs were recorded before the deadline\n";
  // (On a slow machine the deadline may pass while the sweep is expanded,
  // before any record is written.)
  for (const auto& r : runs) {
    EXPECT_THAT(r.error(), HasSubstr("of 100000 runs were recorded; none was played"));
  }
}

}  // namespace
}  // namespace feedloop
