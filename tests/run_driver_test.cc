// RunDriver's round, stage by stage, against the real store, ranker and
// generator behind proxies that can answer a given call (method@round)
// with a chosen status, or edit what the ranker returns. Each test names
// the stage whose contract it checks:
//   Open/Index/Generate: a service that lost the run or is out of step is
//     retried, and the redone round gives the results it would have had;
//   Serve: slates of the wrong count or with items that are not live fail
//     the run (INTERNAL), never reach the users;
//   Feedback: ALREADY_EXISTS from RecordFeedback (a retry after a lost
//     reply) is not an error;
//   Commit: a run another loop owns ends ABORTED, nothing committed;
//   the retry budget: a service down for good fails the run once the
//     budget is spent, timed by the driver's clock (a manual one here, so
//     no test waits minutes).
#include <unistd.h>

#include <deque>
#include <filesystem>
#include <map>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/clock.h"
#include "common/status.h"
#include "config/config.h"
#include "config/cost.h"
#include "feedloop/v1/diversity.pb.h"
#include "feedloop/v1/generator.grpc.pb.h"
#include "feedloop/v1/ranker.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "loop/run_driver.h"
#include "rpc/server.h"
#include "stack/generator_server.h"
#include "stack/ranker_server.h"
#include "stack/store_server.h"
#include "store/store_client.h"
#include "testing/status_matchers.h"

namespace feedloop {
namespace {

using ::feedloop::testing::StatusIs;
using ::testing::HasSubstr;

// Statuses to answer instead of forwarding, per "Method@round", first
// first; and how many calls each key saw.
class Faults {
 public:
  void Add(const std::string& key, grpc::Status status, int times = 1) {
    absl::MutexLock lock(&mu_);
    for (int i = 0; i < times; ++i) next_[key].push_back(status);
  }
  // The fault to answer this call with, if any.
  std::optional<grpc::Status> Take(const std::string& method, uint32_t round) {
    const std::string key = absl::StrCat(method, "@", round);
    absl::MutexLock lock(&mu_);
    ++calls_[key];
    auto it = next_.find(key);
    if (it == next_.end() || it->second.empty()) return std::nullopt;
    grpc::Status s = it->second.front();
    it->second.pop_front();
    return s;
  }
  int calls(const std::string& key) {
    absl::MutexLock lock(&mu_);
    return calls_[key];
  }

 private:
  absl::Mutex mu_;
  std::map<std::string, std::deque<grpc::Status>> next_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, int> calls_ ABSL_GUARDED_BY(mu_);
};

class RankerProxy final : public v1::RankerService::Service {
 public:
  RankerProxy(const std::string& target, Faults* faults)
      : stub_(v1::RankerService::NewStub(CreateChannel(target))), faults_(faults) {}
  // Edits RankBatch answers (after forwarding) when set.
  std::function<void(v1::RankBatchResponse*)> edit_slates;

  grpc::Status OpenRun(grpc::ServerContext*, const v1::OpenRunRequest* req,
                       v1::RankerRunState* resp) override {
    return Forward("OpenRun", req->round(), &v1::RankerService::Stub::OpenRun, *req, resp);
  }
  grpc::Status CloseRun(grpc::ServerContext*, const v1::CloseRunRequest* req,
                        v1::CloseRunResponse* resp) override {
    return Forward("CloseRun", 0, &v1::RankerService::Stub::CloseRun, *req, resp);
  }
  grpc::Status AdvanceRound(grpc::ServerContext*, const v1::AdvanceRoundRequest* req,
                            v1::RankerRunState* resp) override {
    return Forward("AdvanceRound", req->round(), &v1::RankerService::Stub::AdvanceRound,
                   *req, resp);
  }
  grpc::Status RankBatch(grpc::ServerContext*, const v1::RankBatchRequest* req,
                         v1::RankBatchResponse* resp) override {
    grpc::Status s = Forward("RankBatch", req->round(), &v1::RankerService::Stub::RankBatch,
                             *req, resp);
    if (s.ok() && edit_slates) edit_slates(resp);
    return s;
  }
  grpc::Status RecordFeedback(grpc::ServerContext*, const v1::RecordFeedbackRequest* req,
                              v1::RecordFeedbackResponse* resp) override {
    return Forward("RecordFeedback", req->round(), &v1::RankerService::Stub::RecordFeedback,
                   *req, resp);
  }

 private:
  template <typename Req, typename Resp, typename Method>
  grpc::Status Forward(const std::string& method, uint32_t round, Method m, const Req& req,
                       Resp* resp) {
    if (auto fault = faults_->Take(method, round)) return *fault;
    grpc::ClientContext ctx;
    return (stub_.get()->*m)(&ctx, req, resp);
  }
  std::unique_ptr<v1::RankerService::Stub> stub_;
  Faults* const faults_;
};

class GeneratorProxy final : public v1::GeneratorService::Service {
 public:
  GeneratorProxy(const std::string& target, Faults* faults)
      : stub_(v1::GeneratorService::NewStub(CreateChannel(target))), faults_(faults) {}

  grpc::Status OpenRun(grpc::ServerContext*, const v1::OpenRunRequest* req,
                       v1::GeneratorRunState* resp) override {
    if (auto fault = faults_->Take("GeneratorOpenRun", req->round())) return *fault;
    grpc::ClientContext ctx;
    return stub_->OpenRun(&ctx, *req, resp);
  }
  grpc::Status CloseRun(grpc::ServerContext*, const v1::CloseRunRequest* req,
                        v1::CloseRunResponse* resp) override {
    grpc::ClientContext ctx;
    return stub_->CloseRun(&ctx, *req, resp);
  }
  grpc::Status Generate(grpc::ServerContext*, const v1::GenerateRequest* req,
                        grpc::ServerWriter<v1::GenerateResponse>* writer) override {
    if (auto fault = faults_->Take("Generate", req->round())) return *fault;
    grpc::ClientContext ctx;
    auto reader = stub_->Generate(&ctx, *req);
    v1::GenerateResponse chunk;
    while (reader->Read(&chunk)) writer->Write(chunk);
    return reader->Finish();
  }
  grpc::Status Observe(grpc::ServerContext*, const v1::ObserveRequest* req,
                       v1::ObserveResponse* resp) override {
    if (auto fault = faults_->Take("Observe", req->round())) return *fault;
    grpc::ClientContext ctx;
    return stub_->Observe(&ctx, *req, resp);
  }

 private:
  std::unique_ptr<v1::GeneratorService::Stub> stub_;
  Faults* const faults_;
};

v1::ExperimentConfig Tiny() {
  auto c = config::ParseConfig(R"(
      name: "driver" seed: 11 rounds: 3
      space { dim: 8 topics: 4 }
      users { count: 80 }
      creators { count: 10 items_per_round: 4 }
      generator { alpha: 0.5 reward_users: 16 }
      ranker { candidates: 20 item_ttl_rounds: 2 })",
                               "tiny");
  EXPECT_OK(c.status());
  return *c;
}

class RunDriverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(::testing::TempDir(), "/run_driver_",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name(),
                        "_", getpid());
    std::filesystem::remove_all(dir_);
    stack::StoreServer::Options so;
    so.data_dir = dir_;
    ASSERT_OK_AND_ASSIGN(store_server_, stack::StoreServer::Start(so));
    stack::RankerServer::Options ro;
    ro.store_address = store_server_->address();
    ASSERT_OK_AND_ASSIGN(ranker_server_, stack::RankerServer::Start(ro));
    stack::GeneratorServer::Options go;
    go.store_address = store_server_->address();
    go.ranker_address = ranker_server_->address();
    ASSERT_OK_AND_ASSIGN(generator_server_, stack::GeneratorServer::Start(go));
    ranker_proxy_ = std::make_unique<RankerProxy>(ranker_server_->address(), &faults_);
    generator_proxy_ =
        std::make_unique<GeneratorProxy>(generator_server_->address(), &faults_);
    ASSERT_OK_AND_ASSIGN(proxies_, GrpcServer::Start({}, {ranker_proxy_.get(),
                                                          generator_proxy_.get()}));
    store_ = std::make_unique<store::StoreClient>(CreateChannel(store_server_->address()));
    ranker_ = v1::RankerService::NewStub(CreateChannel(proxies_->address()));
    generator_ = v1::GeneratorService::NewStub(CreateChannel(proxies_->address()));
  }
  void TearDown() override {
    proxies_.reset();
    generator_server_.reset();
    ranker_server_.reset();
    store_server_.reset();
    std::filesystem::remove_all(dir_);
  }

  // Creates run `id` and plays it; the metrics of every round, or the error.
  absl::StatusOr<std::map<std::string, double>> Play(
      const std::string& id, loop::RunDriver::Options options = {}) {
    v1::RunRecord record;
    record.set_run_id(id);
    *record.mutable_config() = Tiny();
    FEEDLOOP_RETURN_IF_ERROR(store_->CreateRun(record).status());
    FEEDLOOP_RETURN_IF_ERROR(Drive(id, options));
    return Metrics(id);
  }
  absl::Status Drive(const std::string& id, loop::RunDriver::Options options) {
    if (options.retry_budget == absl::Minutes(5)) options.retry_budget = absl::Seconds(30);
    options.call_deadline = absl::Seconds(30);
    loop::RunDriver driver({store_.get(), ranker_.get(), generator_.get()}, options);
    FEEDLOOP_ASSIGN_OR_RETURN(v1::RunRecord run, store_->GetRun(id));
    return driver.Run(run, [](const v1::RoundMetrics&) {}, nullptr);
  }
  absl::StatusOr<std::map<std::string, double>> Metrics(const std::string& id) {
    v1::GetSeriesRequest req;
    req.add_run_ids(id);
    FEEDLOOP_ASSIGN_OR_RETURN(v1::GetSeriesResponse series, store_->GetSeries(req));
    std::map<std::string, double> out;
    for (const auto& s : series.series()) {
      for (int i = 0; i < s.values_size(); ++i) {
        out[absl::StrCat(s.metric(), "@", s.rounds(i))] = s.values(i);
      }
    }
    return out;
  }

  std::string dir_;
  Faults faults_;
  std::unique_ptr<stack::StoreServer> store_server_;
  std::unique_ptr<stack::RankerServer> ranker_server_;
  std::unique_ptr<stack::GeneratorServer> generator_server_;
  std::unique_ptr<RankerProxy> ranker_proxy_;
  std::unique_ptr<GeneratorProxy> generator_proxy_;
  std::unique_ptr<GrpcServer> proxies_;
  std::unique_ptr<store::StoreClient> store_;
  std::unique_ptr<v1::RankerService::Stub> ranker_;
  std::unique_ptr<v1::GeneratorService::Stub> generator_;
};

TEST_F(RunDriverTest, ARoundRedoneAfterALostRunGivesTheSameResults) {
  ASSERT_OK_AND_ASSIGN(auto clean, Play("clean"));
  ASSERT_GT(clean.size(), 30u);
  // Index: the ranker lost the run; Generate: the generator is out of
  // step; Open: the generator lost it. Each is worth the round again.
  faults_.Add("AdvanceRound@1", grpc::Status(grpc::StatusCode::NOT_FOUND, "restarted"));
  faults_.Add("Generate@2", grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "behind"));
  faults_.Add("GeneratorOpenRun@2",
              grpc::Status(grpc::StatusCode::NOT_FOUND, "restarted"));
  ASSERT_OK_AND_ASSIGN(auto faulted, Play("faulted"));
  EXPECT_EQ(faulted, clean);
  EXPECT_EQ(faults_.calls("AdvanceRound@1"), 3);  // clean, fault, redo
  EXPECT_GE(faults_.calls("Generate@2"), 3);
}

// Long stages report how far they are (what a progress line with an ETA
// reads): per round, ingest counts up to the round's items, the index
// starts and ends, serve counts up to the users; never backwards.
TEST_F(RunDriverTest, ProgressCountsEachStageUpToItsTotal) {
  loop::RunDriver::Options options;
  std::vector<loop::RunDriver::RoundProgress> seen;
  std::vector<std::string> stages;
  options.on_progress = [&](const loop::RunDriver::RoundProgress& p) {
    seen.push_back(p);
    stages.emplace_back(p.stage);
  };
  ASSERT_OK(Play("progress", options).status());
  const v1::ExperimentConfig config = Tiny();
  std::map<std::pair<uint32_t, std::string>, uint64_t> last;
  for (size_t i = 0; i < seen.size(); ++i) {
    const auto key = std::make_pair(seen[i].round, stages[i]);
    EXPECT_LE(seen[i].done, seen[i].total) << stages[i];
    EXPECT_GE(seen[i].done, last[key]) << stages[i] << " went backwards";
    last[key] = seen[i].done;
  }
  for (uint32_t r = 0; r < config.rounds(); ++r) {
    EXPECT_EQ((last[{r, "ingest"}]), config::ItemsInRound(config, r)) << r;
    EXPECT_EQ((last[{r, "index"}]), 1u) << r;
    EXPECT_EQ((last[{r, "serve"}]), config.users().count()) << r;
  }
}

TEST_F(RunDriverTest, FeedbackAlreadyRecordedIsNotAnError) {
  ASSERT_OK_AND_ASSIGN(auto clean, Play("clean"));
  faults_.Add("RecordFeedback@1", grpc::Status(grpc::StatusCode::ALREADY_EXISTS, "recorded"));
  // Forwarded first would be the real retry; here the ranker never saw
  // round 1's feedback, so the results may differ, but the run goes on.
  EXPECT_OK(Play("again").status());
  EXPECT_EQ(faults_.calls("RecordFeedback@1"), 2);
}

TEST_F(RunDriverTest, SlatesOfTheWrongCountOrWithItemsNotLiveFailTheRun) {
  ranker_proxy_->edit_slates = [](v1::RankBatchResponse* r) { r->mutable_slates()->RemoveLast(); };
  EXPECT_THAT(Play("short").status(),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("wrong number of slates")));
  ranker_proxy_->edit_slates = [](v1::RankBatchResponse* r) {
    r->mutable_slates(0)->add_item_ids(987654321);
  };
  EXPECT_THAT(Play("unknown").status(),
              StatusIs(absl::StatusCode::kInternal, HasSubstr("987654321")));
  // Nothing was committed for either.
  ASSERT_OK_AND_ASSIGN(v1::RunRecord run, store_->GetRun("unknown"));
  EXPECT_EQ(run.rounds_done(), 0u);
}

TEST_F(RunDriverTest, ACommitForARunAnotherLoopOwnsIsAborted) {
  v1::RunRecord record;
  record.set_run_id("taken");
  *record.mutable_config() = Tiny();
  ASSERT_OK(store_->CreateRun(record).status());
  ASSERT_OK(store_->ClaimRun("taken", "loop-b", absl::Minutes(10)).status());
  loop::RunDriver::Options options;
  options.owner = "loop-a";
  EXPECT_THAT(Drive("taken", options),
              StatusIs(absl::StatusCode::kAborted, HasSubstr("loop-b")));
  ASSERT_OK_AND_ASSIGN(v1::RunRecord run, store_->GetRun("taken"));
  EXPECT_EQ(run.rounds_done(), 0u);
}

TEST_F(RunDriverTest, AServiceDownForGoodFailsTheRunWhenTheBudgetIsSpent) {
  ManualClock clock;
  const absl::Time start = clock.Now();
  faults_.Add("RankBatch@0", grpc::Status(grpc::StatusCode::UNAVAILABLE, "down"), 1000);
  loop::RunDriver::Options options;
  options.clock = &clock;
  options.retry_budget = absl::Minutes(2);
  EXPECT_THAT(Play("down", options).status(),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("round 0")));
  // Retried with backoff until two minutes had passed on the driver's
  // clock (capped at 2 s a wait: about 60 tries), not 1000 times.
  EXPECT_GE(clock.Now() - start, absl::Minutes(2));
  EXPECT_LT(clock.Now() - start, absl::Minutes(2) + absl::Seconds(3));
  EXPECT_GT(faults_.calls("RankBatch@0"), 50);
  EXPECT_LT(faults_.calls("RankBatch@0"), 100);
}

}  // namespace
}  // namespace feedloop
