// Several rankers behind one address, calls balanced per call (the
// Kubernetes ranker Deployment behind its headless Service): each replica
// sees only some of the AdvanceRound, RankBatch, ScoreItems and
// RecordFeedback calls, catches up from the store to the round a request
// names, and the run's metrics are bit-identical to a run on one ranker.

#include <unistd.h>
#include <filesystem>
#include <map>
#include <regex>

#include "absl/strings/str_cat.h"
#include "config/config.h"
#include "feedloop/v1/diversity.pb.h"
#include "feedloop/v1/ranker.grpc.pb.h"
#include "gtest/gtest.h"
#include "loop/experiment_service.h"
#include "rpc/server.h"
#include "rpc/telemetry.h"
#include "stack/embedded_stack.h"
#include "stack/ranker_server.h"
#include "stack/store_server.h"
#include "store/store_client.h"
#include "testing/net.h"
#include "testing/status_matchers.h"

namespace feedloop {
namespace {

using Values = std::map<std::pair<std::string, uint32_t>, double>;

v1::ExperimentConfig Config() {
  auto c = config::ParseConfig(R"(
      name: "replicas" seed: 7 rounds: 8
      space { dim: 16 topics: 6 }
      users { count: 300 }
      creators { count: 20 items_per_round: 6 }
      generator { alpha: 0.5 reward_users: 32 }
      ranker { index: IVF candidates: 30 item_ttl_rounds: 3 })",
                               "replicas");
  EXPECT_OK(c.status());
  return *c;
}

// Runs Config() to the end on `stack`; its metrics.
Values RunOn(stack::EmbeddedStack* stack) {
  auto started = stack->experiments()->Start(Config());
  EXPECT_OK(started.status());
  if (!started.ok()) return {};
  stack->experiments()->WaitUntilIdle();
  auto run = stack->store()->GetRun(started->run_ids(0));
  EXPECT_OK(run.status());
  if (run.ok()) {
    EXPECT_EQ(run->status(), v1::DONE) << run->error();
    EXPECT_EQ(run->rounds_done(), 8u);
  }
  Values out;
  v1::GetSeriesRequest req;
  req.add_run_ids(started->run_ids(0));
  auto series = stack->store()->GetSeries(req);
  EXPECT_OK(series.status());
  if (!series.ok()) return {};
  for (const auto& s : series->series()) {
    for (int i = 0; i < s.rounds_size(); ++i) out[{s.metric(), s.rounds(i)}] = s.values(i);
  }
  return out;
}

// Calls of `method` a replica answered OK, from its /metrics.
int OkCalls(Telemetry* telemetry, const std::string& method) {
  const std::string body = testing::HttpGet(telemetry->address(), "/metrics");
  std::smatch m;
  const std::regex re("feedloop_rpc_requests_total\\{code=\"OK\",method=\"/feedloop.v1."
                      "RankerService/" + method + "\"\\} ([0-9.e+]+)");
  return std::regex_search(body, m, re) ? static_cast<int>(std::stod(m[1])) : 0;
}

TEST(RankerReplicas, TwoReplicasGiveTheSameRunAsOneRanker) {
  const std::string base = absl::StrCat(::testing::TempDir(), "/replicas_", getpid());
  std::filesystem::remove_all(base);

  stack::EmbeddedStack::Options one;
  one.data_dir = base + "/one";
  ASSERT_OK_AND_ASSIGN(auto single, stack::EmbeddedStack::Start(one));
  const Values expected = RunOn(single.get());
  ASSERT_FALSE(expected.empty());
  single.reset();

  stack::StoreServer::Options so;
  so.data_dir = base + "/two";
  ASSERT_OK_AND_ASSIGN(auto store, stack::StoreServer::Start(so));
  std::unique_ptr<Telemetry> telemetry[2];
  std::unique_ptr<stack::RankerServer> rankers[2];
  for (int i = 0; i < 2; ++i) {
    ASSERT_OK_AND_ASSIGN(telemetry[i], Telemetry::Start("127.0.0.1:0"));
    stack::RankerServer::Options ro;
    ro.store_address = store->address();
    ro.telemetry = telemetry[i].get();
    ASSERT_OK_AND_ASSIGN(rankers[i], stack::RankerServer::Start(ro));
  }
  stack::EmbeddedStack::Options two;
  two.store_address = store->address();
  two.ranker_address =
      absl::StrCat("ipv4:", rankers[0]->address(), ",", rankers[1]->address());
  ASSERT_OK_AND_ASSIGN(auto replicated, stack::EmbeddedStack::Start(two));
  const Values got = RunOn(replicated.get());
  EXPECT_EQ(got, expected);

  // Both replicas took part in every kind of call, so each caught up.
  for (int i = 0; i < 2; ++i) {
    for (const char* method : {"AdvanceRound", "RankBatch", "ScoreItems", "RecordFeedback"}) {
      EXPECT_GT(OkCalls(telemetry[i].get(), method), 0) << "replica " << i << " " << method;
    }
  }
  replicated.reset();
  for (auto& r : rankers) r.reset();
  store.reset();
  std::filesystem::remove_all(base);
}

// With max_connection_age, a ranker closes each client connection after
// that long, so a client re-resolves the name (and finds replicas added
// since); calls keep working. Without it the connection stays up.
TEST(RankerReplicas, MaxConnectionAgeRecyclesClientConnections) {
  const std::string base = absl::StrCat(::testing::TempDir(), "/replicas_age_", getpid());
  std::filesystem::remove_all(base);
  stack::StoreServer::Options so;
  so.data_dir = base;
  ASSERT_OK_AND_ASSIGN(auto store, stack::StoreServer::Start(so));
  for (const bool aged : {false, true}) {
    stack::RankerServer::Options ro;
    ro.store_address = store->address();
    if (aged) ro.max_connection_age = absl::Milliseconds(300);
    ASSERT_OK_AND_ASSIGN(auto ranker, stack::RankerServer::Start(ro));
    auto channel = CreateChannel(ranker->address());
    ASSERT_TRUE(channel->WaitForConnected(
        absl::ToChronoTime(absl::Now() + absl::Seconds(5))));
    const bool left_ready = channel->WaitForStateChange(
        GRPC_CHANNEL_READY, absl::ToChronoTime(absl::Now() + absl::Seconds(2)));
    EXPECT_EQ(left_ready, aged) << (aged ? "aged" : "not aged");
    // Calls still go through (on a new connection when aged).
    auto stub = v1::RankerService::NewStub(channel);
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
    v1::CloseRunRequest req;
    req.set_run_id("none");
    v1::CloseRunResponse resp;
    EXPECT_EQ(stub->CloseRun(&ctx, req, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
  }
  store.reset();
  std::filesystem::remove_all(base);
}

}  // namespace
}  // namespace feedloop
