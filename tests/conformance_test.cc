// The conformance kit (conformance/): passes on feedloop's own ranker and
// generator, and names what a broken one gets wrong. Each broken server is
// a proxy in front of feedloop's own that misbehaves in one way.

#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "conformance/conformance.h"
#include "feedloop/v1/generator.grpc.pb.h"
#include "feedloop/v1/ranker.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "rpc/server.h"
#include "stack/embedded_stack.h"
#include "testing/status_matchers.h"

namespace feedloop {
namespace {

using conformance::Report;

enum class RankerFault {
  kIgnoresAdvanceRound,  // answers OK, indexes nothing
  kUnknownIds,           // adds an id that is no item's
  kDuplicates,           // repeats a slate's first item
  kScoresOutOfRange,     // ScoreItems x 10
  kFeedbackRepeatFails,  // a repeated RecordFeedback answers INTERNAL
  kAcceptsAnyUser,       // empty slates for users it does not know
  kReversedSlates,       // slates in the opposite order of the users
  kFeedbackTwice,        // a repeated RecordFeedback answers OK, "applied"
  kAcceptsSkippedRound,  // an AdvanceRound past the next round answers OK
};

class BrokenRanker final : public v1::RankerService::Service {
 public:
  BrokenRanker(std::shared_ptr<grpc::Channel> real, RankerFault fault)
      : real_(v1::RankerService::NewStub(std::move(real))), fault_(fault) {}

  grpc::Status OpenRun(grpc::ServerContext*, const v1::OpenRunRequest* request,
                       v1::RankerRunState* response) override {
    grpc::ClientContext ctx;
    return real_->OpenRun(&ctx, *request, response);
  }
  grpc::Status CloseRun(grpc::ServerContext*, const v1::CloseRunRequest* request,
                        v1::CloseRunResponse* response) override {
    grpc::ClientContext ctx;
    return real_->CloseRun(&ctx, *request, response);
  }
  grpc::Status AdvanceRound(grpc::ServerContext*, const v1::AdvanceRoundRequest* request,
                            v1::RankerRunState* response) override {
    if (fault_ == RankerFault::kAcceptsSkippedRound) {
      grpc::ClientContext ctx;
      grpc::Status s = real_->AdvanceRound(&ctx, *request, response);
      if (s.error_code() != grpc::StatusCode::FAILED_PRECONDITION) return s;
      response->set_run_id(request->run_id());
      response->set_round(request->round());
      return grpc::Status::OK;
    }
    if (fault_ == RankerFault::kIgnoresAdvanceRound) {
      response->set_run_id(request->run_id());
      response->set_round(request->round());
      return grpc::Status::OK;
    }
    grpc::ClientContext ctx;
    return real_->AdvanceRound(&ctx, *request, response);
  }
  grpc::Status RankBatch(grpc::ServerContext*, const v1::RankBatchRequest* request,
                         v1::RankBatchResponse* response) override {
    v1::RankBatchRequest forwarded = *request;
    if (fault_ == RankerFault::kAcceptsAnyUser) {
      for (const v1::UserQuery& u : request->users()) {
        if (u.user_id() >= 24) {
          response->add_slates()->set_user_id(u.user_id());
          return grpc::Status::OK;
        }
      }
    }
    grpc::ClientContext ctx;
    grpc::Status s = real_->RankBatch(&ctx, forwarded, response);
    if (!s.ok()) return s;
    for (v1::Slate& slate : *response->mutable_slates()) {
      if (fault_ == RankerFault::kUnknownIds) {
        slate.add_item_ids(999999);
        slate.add_scores(0.5f);
      }
      if (fault_ == RankerFault::kDuplicates && slate.item_ids_size() > 0) {
        slate.add_item_ids(slate.item_ids(0));
        slate.add_scores(0.5f);
      }
    }
    if (fault_ == RankerFault::kReversedSlates) {
      std::reverse(response->mutable_slates()->begin(), response->mutable_slates()->end());
    }
    return grpc::Status::OK;
  }
  grpc::Status ScoreItems(grpc::ServerContext*, const v1::ScoreItemsRequest* request,
                          v1::ScoreItemsResponse* response) override {
    grpc::ClientContext ctx;
    grpc::Status s = real_->ScoreItems(&ctx, *request, response);
    if (s.ok() && fault_ == RankerFault::kScoresOutOfRange) {
      for (float& x : *response->mutable_scores()) x *= 10;
    }
    return s;
  }
  grpc::Status RecordFeedback(grpc::ServerContext*, const v1::RecordFeedbackRequest* request,
                              v1::RecordFeedbackResponse* response) override {
    grpc::ClientContext ctx;
    grpc::Status s = real_->RecordFeedback(&ctx, *request, response);
    if (fault_ == RankerFault::kFeedbackRepeatFails &&
        s.error_code() == grpc::StatusCode::ALREADY_EXISTS) {
      return grpc::Status(grpc::StatusCode::INTERNAL, "feedback of this round seen already");
    }
    if (fault_ == RankerFault::kFeedbackTwice &&
        s.error_code() == grpc::StatusCode::ALREADY_EXISTS) {
      response->set_applied(request->interactions_size());
      return grpc::Status::OK;
    }
    return s;
  }

 private:
  std::unique_ptr<v1::RankerService::Stub> real_;
  const RankerFault fault_;
};

enum class GeneratorFault {
  kIdsRestartEachRound,  // ids 1..n in every round
  kRetryDiffers,         // a repeated Generate streams the items in reverse
  kNotUnit,              // embeddings of norm 2
  kNoResume,             // always opens at round 0
  kOutOfStepInvalid,     // a round out of step answers INVALID_ARGUMENT
};

class BrokenGenerator final : public v1::GeneratorService::Service {
 public:
  BrokenGenerator(std::shared_ptr<grpc::Channel> real, GeneratorFault fault)
      : real_(v1::GeneratorService::NewStub(std::move(real))), fault_(fault) {}

  grpc::Status OpenRun(grpc::ServerContext*, const v1::OpenRunRequest* request,
                       v1::GeneratorRunState* response) override {
    v1::OpenRunRequest forwarded = *request;
    if (fault_ == GeneratorFault::kNoResume) forwarded.set_round(0);
    grpc::ClientContext ctx;
    return real_->OpenRun(&ctx, forwarded, response);
  }
  grpc::Status CloseRun(grpc::ServerContext*, const v1::CloseRunRequest* request,
                        v1::CloseRunResponse* response) override {
    grpc::ClientContext ctx;
    return real_->CloseRun(&ctx, *request, response);
  }
  grpc::Status Generate(grpc::ServerContext*, const v1::GenerateRequest* request,
                        grpc::ServerWriter<v1::GenerateResponse>* writer) override {
    grpc::ClientContext ctx;
    auto reader = real_->Generate(&ctx, *request);
    std::vector<v1::Item> items;
    v1::GenerateResponse chunk;
    while (reader->Read(&chunk)) {
      for (const v1::Item& item : chunk.items()) items.push_back(item);
    }
    grpc::Status s = reader->Finish();
    if (fault_ == GeneratorFault::kOutOfStepInvalid &&
        s.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, s.error_message());
    }
    if (!s.ok()) return s;
    bool repeat = false;
    {
      absl::MutexLock lock(&mu_);
      repeat = !generated_.insert(absl::StrCat(request->run_id(), "/", request->round())).second;
    }
    for (size_t i = 0; i < items.size(); ++i) {
      if (fault_ == GeneratorFault::kIdsRestartEachRound) items[i].set_id(i + 1);
      if (fault_ == GeneratorFault::kNotUnit) {
        for (float& x : *items[i].mutable_embedding()) x *= 2;
      }
    }
    if (fault_ == GeneratorFault::kRetryDiffers && repeat) {
      std::reverse(items.begin(), items.end());
    }
    v1::GenerateResponse out;
    for (v1::Item& item : items) *out.add_items() = std::move(item);
    writer->Write(out);
    return grpc::Status::OK;
  }
  grpc::Status Observe(grpc::ServerContext*, const v1::ObserveRequest* request,
                       v1::ObserveResponse* response) override {
    grpc::ClientContext ctx;
    return real_->Observe(&ctx, *request, response);
  }

 private:
  std::unique_ptr<v1::GeneratorService::Stub> real_;
  const GeneratorFault fault_;
  absl::Mutex mu_;
  std::set<std::string> generated_ ABSL_GUARDED_BY(mu_);
};

// A server for `service` on a loopback port the OS picks.
struct Proxy {
  std::unique_ptr<grpc::Server> server;
  std::string address;
};
Proxy Serve(grpc::Service* service) {
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(service);
  Proxy p;
  p.server = builder.BuildAndStart();
  p.address = absl::StrCat("127.0.0.1:", port);
  return p;
}

class ConformanceTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // One folder per process: ctest runs each test as its own process, in
    // parallel.
    dir_ = new std::string(absl::StrCat(::testing::TempDir(), "/conformance_test_", getpid()));
    std::filesystem::remove_all(*dir_);
    stack::EmbeddedStack::Options options;
    options.data_dir = *dir_;
    options.threads = 2;
    auto started = stack::EmbeddedStack::Start(options);
    ASSERT_OK(started.status());
    stack_ = started->release();
  }
  static void TearDownTestSuite() {
    delete stack_;
    std::filesystem::remove_all(*dir_);
    delete dir_;
  }

  static Report Ranker(const std::string& address) {
    auto report = conformance::CheckRanker(CreateChannel(address), *stack_->store(),
                                           conformance::Options());
    EXPECT_OK(report.status());
    return report.ok() ? *report : Report();
  }
  static Report Generator(const std::string& address) {
    auto report = conformance::CheckGenerator(CreateChannel(address), *stack_->store(),
                                              conformance::Options());
    EXPECT_OK(report.status());
    return report.ok() ? *report : Report();
  }
  static Report BrokenRankerReport(RankerFault fault) {
    BrokenRanker broken(CreateChannel(stack_->ranker_address()), fault);
    Proxy proxy = Serve(&broken);
    Report report = Ranker(proxy.address);
    proxy.server->Shutdown();
    return report;
  }
  static Report BrokenGeneratorReport(GeneratorFault fault) {
    BrokenGenerator broken(CreateChannel(stack_->generator_address()), fault);
    Proxy proxy = Serve(&broken);
    Report report = Generator(proxy.address);
    proxy.server->Shutdown();
    return report;
  }
  // The requirement `id` failed, with a message containing `says`.
  static void ExpectFailed(const Report& report, const std::string& id, const std::string& says) {
    EXPECT_FALSE(report.passed()) << report.Format();
    const conformance::Result* r = report.Find(id);
    ASSERT_NE(r, nullptr) << id << " was not checked:\n" << report.Format();
    EXPECT_FALSE(r->outcome.ok()) << report.Format();
    EXPECT_NE(r->outcome.message().find(says), std::string::npos)
        << id << ": " << r->outcome.message();
    EXPECT_NE(report.Format().find(absl::StrCat("FAIL  ", id)), std::string::npos);
  }

  static std::string* dir_;
  static stack::EmbeddedStack* stack_;
};
std::string* ConformanceTest::dir_ = nullptr;
stack::EmbeddedStack* ConformanceTest::stack_ = nullptr;

TEST_F(ConformanceTest, FeedloopsRankerPasses) {
  const Report report = Ranker(stack_->ranker_address());
  EXPECT_TRUE(report.passed()) << report.Format();
  EXPECT_EQ(report.warning_count(), 0) << report.Format();
  EXPECT_GT(report.passed_count(), 30);
  EXPECT_NE(report.Format().find("conformance: passed"), std::string::npos);
}

TEST_F(ConformanceTest, FeedloopsGeneratorPasses) {
  const Report report = Generator(stack_->generator_address());
  EXPECT_TRUE(report.passed()) << report.Format();
  EXPECT_EQ(report.warning_count(), 0) << report.Format();
  EXPECT_GT(report.passed_count(), 15);
}

TEST_F(ConformanceTest, RankerThatIgnoresAdvanceRound) {
  ExpectFailed(BrokenRankerReport(RankerFault::kIgnoresAdvanceRound), "ranker.index",
               "round 0's items were not indexed from the store");
}

TEST_F(ConformanceTest, RankerThatReturnsUnknownIds) {
  ExpectFailed(BrokenRankerReport(RankerFault::kUnknownIds), "ranker.live_ids",
               "holds item 999999, which is not an item of this run");
}

TEST_F(ConformanceTest, RankerThatRepeatsAnItem) {
  ExpectFailed(BrokenRankerReport(RankerFault::kDuplicates), "ranker.slate_unique", "twice");
}

TEST_F(ConformanceTest, RankerWhoseScoresLeaveZeroToOne) {
  ExpectFailed(BrokenRankerReport(RankerFault::kScoresOutOfRange), "ranker.score",
               "outside [0, 1]");
}

TEST_F(ConformanceTest, RankerThatFailsARepeatedFeedback) {
  ExpectFailed(BrokenRankerReport(RankerFault::kFeedbackRepeatFails), "ranker.feedback_once",
               "answered INTERNAL");
}

TEST_F(ConformanceTest, RankerThatAcceptsUnknownUsers) {
  ExpectFailed(BrokenRankerReport(RankerFault::kAcceptsAnyUser), "ranker.bad_user",
               "answered OK; expected INVALID_ARGUMENT");
}

TEST_F(ConformanceTest, RankerThatAnswersSlatesOutOfOrder) {
  ExpectFailed(BrokenRankerReport(RankerFault::kReversedSlates), "ranker.slate_order",
               "slate 0 is for user 23");
}

TEST_F(ConformanceTest, RankerThatAppliesARepeatedFeedbackAgain) {
  ExpectFailed(BrokenRankerReport(RankerFault::kFeedbackTwice), "ranker.feedback_once",
               "applied twice");
}

TEST_F(ConformanceTest, RankerThatSkipsRounds) {
  ExpectFailed(BrokenRankerReport(RankerFault::kAcceptsSkippedRound), "ranker.advance_in_order",
               "AdvanceRound(4) at round 2 answered OK");
}

TEST_F(ConformanceTest, GeneratorThatCallsARoundOutOfStepInvalid) {
  ExpectFailed(BrokenGeneratorReport(GeneratorFault::kOutOfStepInvalid), "generator.out_of_step",
               "answered INVALID_ARGUMENT");
}

TEST_F(ConformanceTest, GeneratorThatReusesIds) {
  const Report report = BrokenGeneratorReport(GeneratorFault::kIdsRestartEachRound);
  ExpectFailed(report, "generator.unique_ids", "round 1, item 0 (id 1): id already used");
  // Items the store would refuse are not sent on.
  EXPECT_EQ(report.Find("generator.observe")->times, 1);
}

TEST_F(ConformanceTest, GeneratorWhoseRetryDiffers) {
  ExpectFailed(BrokenGeneratorReport(GeneratorFault::kRetryDiffers), "generator.retry",
               "round 0 generated again streamed other items");
}

TEST_F(ConformanceTest, GeneratorWithoutUnitEmbeddings) {
  ExpectFailed(BrokenGeneratorReport(GeneratorFault::kNotUnit), "generator.embedding",
               "norm 2; embeddings are unit vectors");
}

TEST_F(ConformanceTest, GeneratorThatCannotResume) {
  ExpectFailed(BrokenGeneratorReport(GeneratorFault::kNoResume), "generator.resume",
               "Generate(round 2)");
}

TEST(ConformanceReportTest, MergesRepeatedChecksAndCountsWarnings) {
  Report report;
  report.Add("a", "first", absl::OkStatus());
  report.Add("a", "first", absl::FailedPreconditionError("round 1: bad"));
  report.Add("a", "first", absl::FailedPreconditionError("round 2: bad"));
  report.Add("b", "second", absl::FailedPreconditionError("meh"), conformance::Level::kRecommended);
  ASSERT_EQ(report.results().size(), 2u);
  EXPECT_EQ(report.Find("a")->times, 3);
  EXPECT_EQ(report.Find("a")->outcome.message(), "round 1: bad");
  EXPECT_EQ(report.failed_count(), 1);
  EXPECT_EQ(report.warning_count(), 1);
  EXPECT_FALSE(report.passed());
  EXPECT_NE(report.Format().find("FAIL  a  first (checked 3 times)\n      round 1: bad"),
            std::string::npos);
  EXPECT_NE(report.Format().find("WARN  b"), std::string::npos);

  Report warned_only;
  warned_only.Add("b", "second", absl::FailedPreconditionError("meh"),
                  conformance::Level::kRecommended);
  EXPECT_TRUE(warned_only.passed());
  warned_only.Stop("OpenRun failed");
  EXPECT_FALSE(warned_only.passed());
  EXPECT_NE(warned_only.Format().find("STOP"), std::string::npos);
}

}  // namespace
}  // namespace feedloop
