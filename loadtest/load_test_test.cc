#include "loadtest/load_test.h"

#include <filesystem>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "rpc/server.h"
#include "feedloop/v1/ranker.grpc.pb.h"
#include "loadtest/prepare.h"
#include "stack/ranker_server.h"
#include "stack/store_server.h"
#include "testing/status_matchers.h"

namespace feedloop::loadtest {
namespace {

using ::feedloop::testing::StatusIs;
using ::testing::HasSubstr;

// A RankerService whose Rank answers at once, except for one second,
// starting `stall_after` after its first call, during which it answers
// nothing (a GC pause, a stuck disk): calls arriving then are answered when
// the second ends.
class StallingRanker final : public v1::RankerService::CallbackService {
 public:
  explicit StallingRanker(absl::Duration stall_after) : stall_after_(stall_after) {}
  ~StallingRanker() override {
    if (releaser_.joinable()) releaser_.join();
  }

  grpc::ServerUnaryReactor* Rank(grpc::CallbackServerContext* ctx,
                                 const v1::RankRequest* request,
                                 v1::RankResponse* response) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    const absl::Time now = absl::Now();
    absl::MutexLock lock(&mu_);
    if (stall_start_ == absl::InfiniteFuture()) {
      stall_start_ = now + stall_after_;
      releaser_ = std::thread([this] {
        absl::SleepFor(stall_start_ + absl::Seconds(1) - absl::Now());
        absl::MutexLock lock(&mu_);
        for (auto* r : held_) r->Finish(grpc::Status::OK);
        held_.clear();
        released_ = true;
      });
    }
    if (now >= stall_start_ && !released_) {
      held_.push_back(reactor);
    } else {
      response->mutable_slate()->set_user_id(request->user().user_id());
      reactor->Finish(grpc::Status::OK);
    }
    return reactor;
  }

 private:
  const absl::Duration stall_after_;
  absl::Mutex mu_;
  absl::Time stall_start_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  bool released_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<grpc::ServerUnaryReactor*> held_ ABSL_GUARDED_BY(mu_);
  std::thread releaser_;
};

LoadTest::Options Quick(const std::string& target) {
  LoadTest::Options o;
  o.target = target;
  o.run_id = "r";
  o.rpc = Rpc::kRank;
  o.warmup = absl::ZeroDuration();
  o.duration = absl::Seconds(3);
  o.connections = 2;
  return o;
}

// The point of an open-loop tool: a 1 s stall during a 1,000/s run delays
// about 1,000 requests by up to a second each, and the p99 must say so. A
// closed-loop tool sees only its few stuck requests and reports a p99 of
// milliseconds; the second half of this test shows that too.
TEST(LoadTest, OpenLoopCountsAStallInFull) {
  StallingRanker stalling(absl::Seconds(1));
  ASSERT_OK_AND_ASSIGN(auto server, GrpcServer::Start({}, {&stalling}));
  LoadTest::Options o = Quick(server->address());
  o.rate = 1000;
  ASSERT_OK_AND_ASSIGN(LoadTest::Result r, LoadTest::Run(o));
  EXPECT_EQ(r.codes["OK"], r.measured_requests);
  EXPECT_NEAR(static_cast<double>(r.measured_requests), 3000, 30);
  // A third of the requests fell into the stall: waits of 1 s down to 0.
  EXPECT_GE(r.latency.Percentile(99), absl::ToInt64Nanoseconds(absl::Milliseconds(500)));
  EXPECT_GE(r.latency.Percentile(90), absl::ToInt64Nanoseconds(absl::Milliseconds(500)));
  EXPECT_GE(r.latency.max(), absl::ToInt64Nanoseconds(absl::Milliseconds(900)));
  EXPECT_LT(r.latency.Percentile(50), absl::ToInt64Nanoseconds(absl::Milliseconds(500)));
  server->Shutdown();
}

TEST(LoadTest, ClosedLoopHidesTheSameStall) {
  StallingRanker stalling(absl::Seconds(1));
  ASSERT_OK_AND_ASSIGN(auto server, GrpcServer::Start({}, {&stalling}));
  LoadTest::Options o = Quick(server->address());
  o.concurrency = 4;
  ASSERT_OK_AND_ASSIGN(LoadTest::Result r, LoadTest::Run(o));
  EXPECT_EQ(r.codes["OK"], r.measured_requests);
  EXPECT_GE(r.latency.max(), absl::ToInt64Nanoseconds(absl::Milliseconds(900)));
  EXPECT_LT(r.latency.Percentile(99), absl::ToInt64Nanoseconds(absl::Milliseconds(500)));
  server->Shutdown();
}

// A RankerService that holds each Rank for `hold` (answering from a
// thread of its own) and records the most calls it held at once.
class HoldingRanker final : public v1::RankerService::CallbackService {
 public:
  explicit HoldingRanker(absl::Duration hold)
      : hold_(hold), releaser_([this] { Release(); }) {}
  ~HoldingRanker() override {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    releaser_.join();
  }
  grpc::ServerUnaryReactor* Rank(grpc::CallbackServerContext* ctx, const v1::RankRequest*,
                                 v1::RankResponse*) override {
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    absl::MutexLock lock(&mu_);
    held_.push_back({absl::Now() + hold_, reactor});
    most_ = std::max(most_, static_cast<int>(held_.size()));
    return reactor;
  }
  int most() {
    absl::MutexLock lock(&mu_);
    return most_;
  }

 private:
  void Release() {
    absl::MutexLock lock(&mu_);
    while (!stop_ || !held_.empty()) {
      const absl::Time now = absl::Now();
      while (!held_.empty() && held_.front().first <= now) {
        held_.front().second->Finish(grpc::Status::OK);
        held_.erase(held_.begin());
      }
      mu_.Unlock();
      absl::SleepFor(absl::Microseconds(200));
      mu_.Lock();
    }
  }
  const absl::Duration hold_;
  absl::Mutex mu_;
  std::vector<std::pair<absl::Time, grpc::ServerUnaryReactor*>> held_ ABSL_GUARDED_BY(mu_);
  int most_ ABSL_GUARDED_BY(mu_) = 0;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread releaser_;
};

// The client's threads each own a share of the calls in flight; together
// they keep exactly the bound, never more: `concurrency` in closed loop,
// `max_inflight` in open loop (where demand here is 4 in flight).
TEST(LoadTest, InFlightBoundsHoldAcrossThreads) {
  HoldingRanker holding(absl::Milliseconds(2));
  ASSERT_OK_AND_ASSIGN(auto server, GrpcServer::Start({}, {&holding}));
  LoadTest::Options o = Quick(server->address());
  o.duration = absl::Seconds(1);
  o.threads = 2;
  o.concurrency = 5;
  ASSERT_OK_AND_ASSIGN(LoadTest::Result closed, LoadTest::Run(o));
  EXPECT_EQ(closed.codes["OK"], closed.measured_requests);
  EXPECT_EQ(holding.most(), 5);

  HoldingRanker holding_open(absl::Milliseconds(2));
  ASSERT_OK_AND_ASSIGN(auto open_server, GrpcServer::Start({}, {&holding_open}));
  o = Quick(open_server->address());
  o.duration = absl::Seconds(1);
  o.threads = 2;
  o.rate = 2000;
  o.max_inflight = 3;
  ASSERT_OK_AND_ASSIGN(LoadTest::Result open, LoadTest::Run(o));
  EXPECT_EQ(open.codes["OK"], open.measured_requests);
  EXPECT_EQ(holding_open.most(), 3);
  EXPECT_GT(open.late_sends, 0u) << "the bound held calls back, and that must show";
  server->Shutdown();
  open_server->Shutdown();
}

class LoadTestOnRanker : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(::testing::TempDir(), "/loadtest_", getpid());
    std::filesystem::remove_all(dir_);
    stack::StoreServer::Options so;
    so.data_dir = dir_;
    so.sync = false;
    auto store = stack::StoreServer::Start(so);
    ASSERT_OK(store.status());
    store_ = *std::move(store);
    stack::RankerServer::Options ro;
    ro.store_address = store_->address();
    auto ranker = stack::RankerServer::Start(ro);
    ASSERT_OK(ranker.status());
    ranker_ = *std::move(ranker);
    PrepareOptions p;
    p.store = store_->address();
    p.ranker = ranker_->address();
    p.run_id = "lt";
    p.items = 3000;
    p.dim = 16;
    p.users = 500;
    p.index = v1::RankerConfig::FLAT;
    ASSERT_OK(PrepareRun(p));
  }
  void TearDown() override {
    ranker_.reset();
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  LoadTest::Options On(const std::string& target, Rpc rpc) {
    LoadTest::Options o;
    o.target = target;
    o.rpc = rpc;
    o.run_id = "lt";
    o.dim = 16;
    o.users = 500;
    o.warmup = absl::Milliseconds(300);
    o.duration = absl::Seconds(2);
    return o;
  }
  std::string dir_;
  std::unique_ptr<stack::StoreServer> store_;
  std::unique_ptr<stack::RankerServer> ranker_;
};

TEST_F(LoadTestOnRanker, OpenLoopHoldsTheAskedRateWithoutErrors) {
  LoadTest::Options o = On(ranker_->address(), Rpc::kRank);
  o.rate = 400;
  o.zipf_s = 1.1;
  ASSERT_OK_AND_ASSIGN(LoadTest::Result r, LoadTest::Run(o));
  EXPECT_EQ(r.codes["OK"], r.measured_requests) << FormatSummary(o, r);
  EXPECT_EQ(r.error_rate(), 0);
  EXPECT_NEAR(r.achieved_rate, 400, 400 * 0.05) << FormatSummary(o, r);
  EXPECT_GT(r.warmup_requests, 0u);
  // The outputs carry the same numbers.
  EXPECT_THAT(FormatSummary(o, r), HasSubstr("OK " + std::to_string(r.measured_requests)));
  EXPECT_THAT(ToJson(o, r), HasSubstr("\"requests\": " + std::to_string(r.measured_requests)));
  EXPECT_THAT(ToCsv(r), HasSubstr("low_us,high_us,count,cumulative_fraction\n"));
  EXPECT_THAT(ToCsv(r), HasSubstr(",1.000000\n"));
}

TEST_F(LoadTestOnRanker, ClosedLoopOnEveryRpc) {
  for (Rpc rpc : {Rpc::kRankBatch, Rpc::kRetrieve, Rpc::kScoreItems, Rpc::kIngest}) {
    LoadTest::Options o =
        On(rpc == Rpc::kIngest ? store_->address() : ranker_->address(), rpc);
    o.concurrency = 4;
    o.batch = 8;
    o.duration = absl::Milliseconds(500);
    o.warmup = absl::ZeroDuration();
    ASSERT_OK_AND_ASSIGN(LoadTest::Result r, LoadTest::Run(o));
    EXPECT_GT(r.measured_requests, 10u) << RpcName(rpc);
    EXPECT_EQ(r.codes["OK"], r.measured_requests) << FormatSummary(o, r);
  }
}

TEST_F(LoadTestOnRanker, ClearErrorsBeforeAnyLoad) {
  LoadTest::Options o = On(ranker_->address(), Rpc::kRank);
  o.run_id = "no-such-run";
  EXPECT_THAT(LoadTest::Run(o).status(),
              StatusIs(absl::StatusCode::kNotFound,
                       ::testing::AllOf(HasSubstr("first Rank"), HasSubstr("no-such-run"))));
  o = On(ranker_->address(), Rpc::kRetrieve);
  o.dim = 8;  // the run has 16; 3 x 8 floats are no whole number of rows
  o.batch = 3;
  EXPECT_THAT(LoadTest::Run(o).status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("dim")));
  o = On(store_->address(), Rpc::kRank);  // a store has no RankerService
  EXPECT_THAT(LoadTest::Run(o).status(), StatusIs(absl::StatusCode::kUnimplemented, ::testing::_));
}

TEST(LoadTest, UnreachableTargetAndImpossibleSettings) {
  LoadTest::Options o = Quick("127.0.0.1:1");
  EXPECT_THAT(LoadTest::Run(o).status(),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("127.0.0.1:1")));
  o = Quick("x:1");
  o.rate = -5;
  EXPECT_THAT(LoadTest::Validate(o), StatusIs(absl::StatusCode::kInvalidArgument,
                                              HasSubstr("rate")));
  o = Quick("x:1");
  o.connections = 0;
  EXPECT_THAT(LoadTest::Validate(o), StatusIs(absl::StatusCode::kInvalidArgument,
                                              HasSubstr("connections")));
  o = Quick("x:1");
  o.threads = -1;
  EXPECT_THAT(LoadTest::Validate(o), StatusIs(absl::StatusCode::kInvalidArgument,
                                              HasSubstr("threads")));
  o = Quick("x:1");
  o.zipf_s = std::nan("");
  EXPECT_THAT(LoadTest::Validate(o), StatusIs(absl::StatusCode::kInvalidArgument,
                                              HasSubstr("zipf_s")));
  EXPECT_THAT(ParseRpc("Frobnicate").status(),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("RankBatch")));
}

}  // namespace
}  // namespace feedloop::loadtest
