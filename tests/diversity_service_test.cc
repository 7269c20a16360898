// DiversityService over gRPC on the store of a real (small) experiment:
// CompareRuns, WatchRun of a finished and of a live run, Evaluate.

#include <unistd.h>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "config/config.h"
#include "feedloop/v1/diversity.grpc.pb.h"
#include "feedloop/v1/experiment.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "metrics/summary.h"
#include "report/outputs.h"
#include "loop/experiment_service.h"
#include "rpc/grpc_status.h"
#include "rpc/server.h"
#include "stack/embedded_stack.h"
#include "testing/status_matchers.h"

namespace feedloop {
namespace {

using ::feedloop::testing::StatusIs;
using ::testing::HasSubstr;

v1::ExperimentConfig Config(uint32_t rounds) {
  auto c = config::ParseConfig(absl::StrCat(R"(
      name: "div" seed: 3
      space { dim: 8 topics: 4 }
      users { count: 100 }
      creators { count: 10 items_per_round: 4 }
      ranker { candidates: 20 item_ttl_rounds: 2 })", " rounds: ", rounds),
                               "div");
  EXPECT_OK(c.status());
  return *c;
}

// generator.alpha 0 and 1, two replicates each, four rounds.
v1::ExperimentConfig AlphaSweep() {
  auto config = Config(4);
  config.mutable_sweep()->set_parameter("generator.alpha");
  config.mutable_sweep()->add_values("0");
  config.mutable_sweep()->add_values("1");
  config.mutable_sweep()->set_replicates(2);
  return config;
}

class DiversityServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(::testing::TempDir(), "/diversity_service_", getpid());
    std::filesystem::remove_all(dir_);
    stack::EmbeddedStack::Options options;
    options.data_dir = dir_;
    ASSERT_OK_AND_ASSIGN(stack_, stack::EmbeddedStack::Start(options));
    stub_ = v1::DiversityService::NewStub(CreateChannel(stack_->store_address()));
  }
  void TearDown() override {
    stack_.reset();
    std::filesystem::remove_all(dir_);
  }
  std::string dir_;
  std::unique_ptr<stack::EmbeddedStack> stack_;
  std::unique_ptr<v1::DiversityService::Stub> stub_;
};

TEST_F(DiversityServiceTest, CompareRunsGroupsASweepByPoint) {
  const auto config = AlphaSweep();
  ASSERT_OK_AND_ASSIGN(auto started, stack_->experiments()->Start(config));
  stack_->experiments()->WaitUntilIdle();

  v1::CompareRunsRequest req;
  req.set_sweep_id(started.sweep_id());
  req.add_metrics("content.");
  req.set_window(2);
  v1::CompareRunsResponse resp;
  {
    grpc::ClientContext ctx;
    ASSERT_OK(FromGrpcStatus(stub_->CompareRuns(&ctx, req, &resp)));
  }
  EXPECT_EQ(resp.sweep_parameter(), "generator.alpha");
  ASSERT_EQ(resp.groups_size(), 2);
  EXPECT_EQ(resp.groups(0).sweep_value(), "0");
  EXPECT_EQ(resp.groups(0).run_ids_size(), 2);
  ASSERT_EQ(resp.groups(0).metrics_size(), 6);  // the six content metrics
  for (const auto& m : resp.groups(0).metrics()) {
    EXPECT_EQ(m.n(), 2u);
    EXPECT_LE(m.ci_low(), m.mean());
    EXPECT_GE(m.ci_high(), m.mean());
  }
  req.add_metrics("content.nope");
  grpc::ClientContext ctx2;
  EXPECT_THAT(FromGrpcStatus(stub_->CompareRuns(&ctx2, req, &resp)),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("content.nope")));
  req.clear_metrics();
  req.add_run_ids(started.run_ids(0));
  grpc::ClientContext ctx3;
  EXPECT_THAT(FromGrpcStatus(stub_->CompareRuns(&ctx3, req, &resp)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not both")));
}

// One answer to "which runs count": CompareRuns (so the CLI's and Python's
// compare) and the run's own outputs (final table, summary.json,
// report.html) rest on the same runs, DONE ones, and both say what they left
// out. Before, compare took any run with rounds done, and the two
// disagreed on the same sweep after a run stopped.
TEST_F(DiversityServiceTest, CompareAndTheOutputsCountTheSameRuns) {
  const auto config = AlphaSweep();
  ASSERT_OK_AND_ASSIGN(auto started, stack_->experiments()->Start(config));
  stack_->experiments()->WaitUntilIdle();
  // The first run of point 0 ends STOPPED (as after a Ctrl-C).
  ASSERT_OK_AND_ASSIGN(v1::RunRecord first, stack_->store()->GetRun(started.run_ids(0)));
  ASSERT_EQ(first.sweep_point(), 0u);
  v1::UpdateRunRequest stop;
  stop.set_run_id(first.run_id());
  stop.set_status(v1::STOPPED);
  stop.set_rounds_done(first.rounds_done());
  ASSERT_OK(stack_->store()->UpdateRun(stop).status());

  v1::CompareRunsRequest req;
  req.set_sweep_id(started.sweep_id());
  v1::CompareRunsResponse compared;
  grpc::ClientContext ctx;
  ASSERT_OK(FromGrpcStatus(stub_->CompareRuns(&ctx, req, &compared)));
  ASSERT_OK_AND_ASSIGN(report::ExperimentResult outputs,
                       report::CollectResults(stack_->store(), started, config, 0));
  const v1::ExperimentSummary& summary = outputs.summary;
  EXPECT_THAT(compared.rule(), HasSubstr("DONE"));
  EXPECT_EQ(summary.rule(), compared.rule());
  ASSERT_EQ(compared.groups_size(), 2);
  ASSERT_EQ(summary.groups_size(), 2);
  const v1::CompareGroup& point0 = compared.groups(0);
  EXPECT_EQ(point0.run_ids_size(), 1);
  EXPECT_NE(point0.run_ids(0), first.run_id());
  EXPECT_EQ(point0.runs_by_status().at("STOPPED"), 1u);
  EXPECT_EQ(point0.runs_by_status().at("DONE"), 1u);
  EXPECT_EQ(compared.groups(1).run_ids_size(), 2);
  for (int g = 0; g < 2; ++g) {
    const v1::CompareGroup& a = compared.groups(g);
    const v1::CompareGroup& b = summary.groups(g);
    EXPECT_EQ(std::vector<std::string>(a.run_ids().begin(), a.run_ids().end()),
              std::vector<std::string>(b.run_ids().begin(), b.run_ids().end()));
    EXPECT_EQ(metrics::FormatRunsCounted(a), metrics::FormatRunsCounted(b));
    ASSERT_EQ(a.metrics_size(), b.metrics_size());
    for (int m = 0; m < a.metrics_size(); ++m) {
      EXPECT_EQ(a.metrics(m).metric(), b.metrics(m).metric());
      EXPECT_EQ(a.metrics(m).n(), b.metrics(m).n()) << a.metrics(m).metric();
      EXPECT_DOUBLE_EQ(a.metrics(m).mean(), b.metrics(m).mean()) << a.metrics(m).metric();
    }
  }
  const std::string table = report::FormatTable(summary);
  EXPECT_THAT(table, HasSubstr("1 of 2 (1 STOPPED)"));
  EXPECT_THAT(table, HasSubstr(compared.rule()));
}

TEST_F(DiversityServiceTest, WatchRunStreamsStoredThenLiveRoundsUntilTheRunEnds) {
  // A finished run: every stored round from from_round, then the end.
  ASSERT_OK_AND_ASSIGN(auto done, stack_->experiments()->Start(Config(5)));
  stack_->experiments()->WaitUntilIdle();
  v1::WatchRunRequest req;
  req.set_run_id(done.run_ids(0));
  req.set_from_round(2);
  req.add_metrics("slate.ild");
  grpc::ClientContext ctx;
  auto reader = stub_->WatchRun(&ctx, req);
  v1::RoundMetrics rm;
  std::vector<uint32_t> rounds;
  while (reader->Read(&rm)) {
    rounds.push_back(rm.round());
    ASSERT_EQ(rm.values_size(), 1);
    EXPECT_EQ(rm.values(0).name(), "slate.ild");
  }
  ASSERT_OK(FromGrpcStatus(reader->Finish()));
  EXPECT_THAT(rounds, ::testing::ElementsAre(2, 3, 4));

  // A live run: rounds arrive as they complete; the stream ends when the
  // run is stopped.
  ASSERT_OK_AND_ASSIGN(auto live, stack_->experiments()->Start(Config(100000)));
  v1::WatchRunRequest live_req;
  live_req.set_run_id(live.run_ids(0));
  grpc::ClientContext live_ctx;
  auto live_reader = stub_->WatchRun(&live_ctx, live_req);
  uint32_t expected = 0;
  while (expected < 3 && live_reader->Read(&rm)) {
    EXPECT_EQ(rm.round(), expected++);
  }
  ASSERT_EQ(expected, 3u);
  auto loop = v1::ExperimentService::NewStub(CreateChannel(stack_->loop_address()));
  v1::StopRunRequest stop;
  stop.set_run_id(live.run_ids(0));
  v1::RunRecord record;
  grpc::ClientContext stop_ctx;
  ASSERT_OK(FromGrpcStatus(loop->StopRun(&stop_ctx, stop, &record)));
  while (live_reader->Read(&rm)) EXPECT_EQ(rm.round(), expected++);
  ASSERT_OK(FromGrpcStatus(live_reader->Finish()));

  v1::WatchRunRequest unknown;
  unknown.set_run_id("ghost");
  grpc::ClientContext uctx;
  auto ureader = stub_->WatchRun(&uctx, unknown);
  EXPECT_FALSE(ureader->Read(&rm));
  EXPECT_THAT(FromGrpcStatus(ureader->Finish()),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("ghost")));
}

TEST_F(DiversityServiceTest, EvaluateMeasuresEmbeddingsAndItems) {
  // Four orthogonal directions: Vendi 4, every pair at distance 1.
  v1::EvaluateRequest req;
  req.set_dim(4);
  for (int i = 0; i < 4; ++i) {
    for (int d = 0; d < 4; ++d) req.add_embeddings(i == d ? 2.0f : 0.0f);
  }
  v1::EvaluateResponse resp;
  {
    grpc::ClientContext ctx;
    ASSERT_OK(FromGrpcStatus(stub_->Evaluate(&ctx, req, &resp)));
  }
  ASSERT_EQ(resp.values_size(), 2);
  EXPECT_EQ(resp.items(), 4u);
  EXPECT_NEAR(resp.values(0).value(), 1.0, 1e-9);  // dispersion
  EXPECT_NEAR(resp.values(1).value(), 4.0, 1e-6);  // vendi

  req.set_embeddings(5, std::nanf(""));
  grpc::ClientContext c1;
  EXPECT_THAT(FromGrpcStatus(stub_->Evaluate(&c1, req, &resp)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("embeddings[row 1][1]: is NaN")));
  req.set_dim(3);
  grpc::ClientContext c2;
  EXPECT_THAT(FromGrpcStatus(stub_->Evaluate(&c2, req, &resp)),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("multiple")));

  // Items of a run, with the run's topics, round 0's tail reference and
  // the items' creators: six content metrics, each a value or absent with
  // its reason.
  ASSERT_OK_AND_ASSIGN(auto started, stack_->experiments()->Start(Config(2)));
  stack_->experiments()->WaitUntilIdle();
  v1::EvaluateRequest items;
  items.set_run_id(started.run_ids(0));
  for (uint64_t i = 1; i <= 20; ++i) items.add_item_ids((uint64_t{1} << 32) | i);
  {
    grpc::ClientContext ctx;
    ASSERT_OK(FromGrpcStatus(stub_->Evaluate(&ctx, items, &resp)));
  }
  ASSERT_EQ(resp.values_size(), 6);
  EXPECT_EQ(resp.items(), 20u);
  for (const auto& v : resp.values()) {
    EXPECT_TRUE(v.absent().empty()) << v.name() << ": " << v.absent();
  }
  items.add_item_ids(999);
  grpc::ClientContext c3;
  EXPECT_THAT(FromGrpcStatus(stub_->Evaluate(&c3, items, &resp)),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("item 999")));
}

// One small request used to make the store try to allocate 320 GB: a row
// of dimension 200,000 (800 KB). The dimension is bounded before anything
// is sized by it, and the store goes on answering.
TEST_F(DiversityServiceTest, EvaluateRefusesADimensionBeyondTheLimitAndStaysUp) {
  v1::EvaluateRequest req;
  req.set_dim(200000);
  for (int d = 0; d < 200000; ++d) req.add_embeddings(d == 0 ? 1.0f : 0.0f);
  v1::EvaluateResponse resp;
  grpc::ClientContext ctx;
  EXPECT_THAT(FromGrpcStatus(stub_->Evaluate(&ctx, req, &resp)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("dim: 200000 exceeds the limit of 4096")));
  v1::EvaluateRequest ok;
  ok.set_dim(2);
  for (float x : {1.0f, 0.0f, 0.0f, 1.0f}) ok.add_embeddings(x);
  grpc::ClientContext again;
  EXPECT_OK(FromGrpcStatus(stub_->Evaluate(&again, ok, &resp)));
}

// A 20 KB metric name comes back as NOT_FOUND quoting a short prefix, not
// as a metadata-size error.
TEST_F(DiversityServiceTest, AnErrorQuotesAShortPrefixOfUnboundedInput) {
  ASSERT_OK_AND_ASSIGN(auto started, stack_->experiments()->Start(Config(2)));
  stack_->experiments()->WaitUntilIdle();
  v1::GetSeriesRequest req;
  req.add_run_ids(started.run_ids(0));
  req.add_metrics(std::string(20000, 'm'));
  v1::GetSeriesResponse resp;
  grpc::ClientContext ctx;
  const absl::Status s = FromGrpcStatus(stub_->GetSeries(&ctx, req, &resp));
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kNotFound, HasSubstr("(20000 characters)")));
  EXPECT_LT(s.message().size(), 200u);
}

}  // namespace
}  // namespace feedloop
