// Prometheus metrics: a store serving with Telemetry counts its calls by
// method and code, /metrics shows them, and a real Prometheus (Debian's
// `prometheus`, started here on loopback) scrapes them and answers a query.

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "rpc/server.h"
#include "common/status.h"
#include "rpc/telemetry.h"
#include "feedloop/v1/diversity.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "loadtest/prepare.h"
#include "stack/ranker_server.h"
#include "stack/store_server.h"
#include "testing/status_matchers.h"
#include "testing/net.h"
#include "testing/subprocess.h"
#include "rpc/grpc_status.h"

namespace feedloop {
namespace {

using ::testing::HasSubstr;

using testing::FreePort;
using testing::HttpGet;


class TelemetryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(::testing::TempDir(), "/telemetry_", getpid());
    std::filesystem::remove_all(dir_);
    ASSERT_OK_AND_ASSIGN(telemetry_, Telemetry::Start("127.0.0.1:0"));
    stack::StoreServer::Options options;
    options.data_dir = dir_ + "/store";
    options.telemetry = telemetry_.get();
    ASSERT_OK_AND_ASSIGN(store_, stack::StoreServer::Start(options));
    stub_ = v1::DiversityService::NewStub(CreateChannel(store_->address()));
  }
  void TearDown() override {
    store_.reset();
    telemetry_.reset();
    std::filesystem::remove_all(dir_);
  }
  absl::Status ListRuns() {
    grpc::ClientContext ctx;
    v1::ListRunsResponse response;
    return FromGrpcStatus(stub_->ListRuns(&ctx, {}, &response));
  }
  absl::Status GetRun(const std::string& id) {
    grpc::ClientContext ctx;
    v1::GetRunRequest request;
    request.set_run_id(id);
    v1::RunRecord response;
    return FromGrpcStatus(stub_->GetRun(&ctx, request, &response));
  }

  std::string dir_;
  std::unique_ptr<Telemetry> telemetry_;
  std::unique_ptr<stack::StoreServer> store_;
  std::unique_ptr<v1::DiversityService::Stub> stub_;
};

TEST_F(TelemetryTest, MetricsCountCallsByMethodAndCode) {
  for (int i = 0; i < 3; ++i) ASSERT_OK(ListRuns());
  EXPECT_FALSE(GetRun("no-such-run").ok());
  const std::string metrics = HttpGet(telemetry_->address(), "/metrics");
  EXPECT_THAT(metrics, HasSubstr("feedloop_rpc_requests_total{code=\"OK\",method=\"/"
                                 "feedloop.v1.DiversityService/ListRuns\"} 3"));
  EXPECT_THAT(metrics, HasSubstr("feedloop_rpc_requests_total{code=\"NOT_FOUND\",method=\"/"
                                 "feedloop.v1.DiversityService/GetRun\"} 1"));
  EXPECT_THAT(metrics, HasSubstr("feedloop_rpc_duration_seconds_count{method=\"/"
                                 "feedloop.v1.DiversityService/ListRuns\"} 3"));
  EXPECT_THAT(metrics, HasSubstr("feedloop_rpc_in_flight{method=\"/"
                                 "feedloop.v1.DiversityService/ListRuns\"} 0"));
}

// A ranker given Telemetry publishes its runs' index gauges.
TEST_F(TelemetryTest, RankerPublishesIndexGauges) {
  stack::RankerServer::Options options;
  options.store_address = store_->address();
  options.telemetry = telemetry_.get();
  ASSERT_OK_AND_ASSIGN(auto ranker, stack::RankerServer::Start(options));
  loadtest::PrepareOptions p;
  p.store = store_->address();
  p.ranker = ranker->address();
  p.run_id = "gauged";
  p.items = 700;
  p.dim = 8;
  p.users = 10;
  p.index = v1::RankerConfig::FLAT;
  ASSERT_OK(loadtest::PrepareRun(p));
  const std::string metrics = HttpGet(telemetry_->address(), "/metrics");
  EXPECT_THAT(metrics, HasSubstr("feedloop_index_live_items{run=\"gauged\"} 700"));
  EXPECT_THAT(metrics, HasSubstr("feedloop_ranker_round{run=\"gauged\"} 0"));
  EXPECT_THAT(metrics, HasSubstr("feedloop_index_rebuilds{run=\"gauged\"} 0"));
  EXPECT_THAT(metrics, HasSubstr("feedloop_rpc_requests_total{code=\"OK\",method=\"/"
                                 "feedloop.v1.RankerService/AdvanceRound\"} 1"));
}

TEST_F(TelemetryTest, ARealPrometheusScrapesTheCounter) {
  const char* prometheus = "/usr/bin/prometheus";
  ASSERT_EQ(access(prometheus, X_OK), 0)
      << "Debian's prometheus is needed: scripts/bootstrap installs 'prometheus'";
  for (int i = 0; i < 5; ++i) ASSERT_OK(ListRuns());
  std::filesystem::create_directories(dir_ + "/tsdb");
  std::ofstream(dir_ + "/prometheus.yml") << absl::StrCat(
      "global:\n  scrape_interval: 1s\n"
      "scrape_configs:\n  - job_name: feedloop\n    static_configs:\n"
      "      - targets: ['",
      telemetry_->address(), "']\n");
  const std::string web = absl::StrCat("127.0.0.1:", FreePort());
  ASSERT_OK_AND_ASSIGN(
      auto server,
      testing::Subprocess::Start({prometheus, "--config.file=" + dir_ + "/prometheus.yml",
                                  "--storage.tsdb.path=" + dir_ + "/tsdb",
                                  "--web.listen-address=" + web, "--log.level=warn"}));
  // Scrapes every second; ask until the counter has arrived.
  const std::string query =
      "/api/v1/query?query=feedloop_rpc_requests_total%7Bmethod%3D%22%2Ffeedloop.v1."
      "DiversityService%2FListRuns%22%7D";
  std::string answer;
  for (const absl::Time give_up = absl::Now() + absl::Seconds(60); absl::Now() < give_up;
       absl::SleepFor(absl::Milliseconds(500))) {
    answer = HttpGet(web, query);
    if (answer.find("\"5\"]") != std::string::npos) break;
  }
  EXPECT_THAT(answer, HasSubstr("\"status\":\"success\""));
  EXPECT_THAT(answer, HasSubstr("\"code\":\"OK\""));
  EXPECT_THAT(answer, HasSubstr("\"5\"]")) << answer;  // [time, "5"]
  server->Kill(SIGTERM);
  server->Wait();
}

}  // namespace
}  // namespace feedloop
