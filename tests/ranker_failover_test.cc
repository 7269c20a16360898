// The loop survives its ranker: the ranker is shut down in the middle of a
// run and a new one starts on the same address; the driver reopens the run,
// the new ranker rebuilds it from the store, and the run completes with the
// same metrics as a run that never lost its ranker.

#include <unistd.h>
#include <filesystem>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "config/config.h"
#include "feedloop/v1/diversity.pb.h"
#include "gtest/gtest.h"
#include "loop/experiment_service.h"
#include "stack/generator_server.h"
#include "stack/loop_server.h"
#include "stack/ranker_server.h"
#include "stack/store_server.h"
#include "store/store_client.h"
#include "testing/status_matchers.h"

namespace feedloop {
namespace {

v1::ExperimentConfig Config() {
  auto c = config::ParseConfig(R"(
      name: "failover" seed: 5 rounds: 8
      space { dim: 16 topics: 6 }
      users { count: 200 }
      creators { count: 20 items_per_round: 5 }
      generator { alpha: 0.5 reward_users: 32 }
      ranker { candidates: 30 item_ttl_rounds: 3 })",
                               "failover");
  EXPECT_OK(c.status());
  return *c;
}

struct Stack {
  std::unique_ptr<stack::StoreServer> store;
  std::unique_ptr<stack::RankerServer> ranker;
  std::unique_ptr<stack::GeneratorServer> generator;
  std::unique_ptr<stack::LoopServer> loop;
  std::string ranker_listen;
};

Stack Start(const std::string& dir) {
  Stack s;
  stack::StoreServer::Options so;
  so.data_dir = dir;
  s.store = *stack::StoreServer::Start(so);
  stack::RankerServer::Options ro;
  ro.store_address = s.store->address();
  s.ranker = *stack::RankerServer::Start(ro);
  s.ranker_listen = s.ranker->address();
  stack::GeneratorServer::Options go;
  go.ranker_address = s.ranker->address();
  s.generator = *stack::GeneratorServer::Start(go);
  stack::LoopServer::Options lo;
  lo.store_address = s.store->address();
  lo.ranker_address = s.ranker->address();
  lo.generator_address = s.generator->address();
  s.loop = *stack::LoopServer::Start(lo);
  return s;
}

std::map<std::pair<std::string, uint32_t>, double> Values(stack::LoopServer* loop,
                                                          const std::string& run) {
  std::map<std::pair<std::string, uint32_t>, double> out;
  v1::GetSeriesRequest req;
  req.add_run_ids(run);
  auto series = loop->store()->GetSeries(req);
  EXPECT_OK(series.status());
  for (const auto& s : series->series()) {
    for (int i = 0; i < s.rounds_size(); ++i) out[{s.metric(), s.rounds(i)}] = s.values(i);
  }
  return out;
}

TEST(RankerFailover, RunCompletesWithTheSameMetricsAfterTheRankerRestarts) {
  const std::string base = absl::StrCat(::testing::TempDir(), "/failover_", getpid());
  std::filesystem::remove_all(base);

  // Reference: no failure.
  Stack ref = Start(base + "/ref");
  auto ref_started = ref.loop->experiments()->Start(Config());
  ASSERT_OK(ref_started.status());
  ref.loop->experiments()->WaitUntilIdle();
  const auto expected = Values(ref.loop.get(), ref_started->run_ids(0));

  // Same run; the ranker goes away after round 3 and comes back.
  Stack s = Start(base + "/failover");
  absl::Notification round3, ranker_gone;
  s.loop->experiments()->SetRoundListener([&](const v1::RoundMetrics& m) {
    if (m.round() == 3 && !round3.HasBeenNotified()) {
      round3.Notify();
      // Hold the loop here until the ranker is gone, so the next round's
      // first ranker call meets the outage.
      ranker_gone.WaitForNotification();
    }
  });
  auto started = s.loop->experiments()->Start(Config());
  ASSERT_OK(started.status());
  round3.WaitForNotification();
  s.ranker.reset();  // down, with the run's state
  ranker_gone.Notify();
  absl::SleepFor(absl::Milliseconds(500));
  stack::RankerServer::Options ro;
  ro.store_address = s.store->address();
  ro.listen = s.ranker_listen;  // same address: clients reconnect
  auto restarted = stack::RankerServer::Start(ro);
  ASSERT_OK(restarted.status());
  s.ranker = *std::move(restarted);
  s.loop->experiments()->WaitUntilIdle();

  ASSERT_OK_AND_ASSIGN(auto run, s.loop->store()->GetRun(started->run_ids(0)));
  EXPECT_EQ(run.status(), v1::DONE) << run.error();
  EXPECT_EQ(run.rounds_done(), 8u);
  EXPECT_EQ(Values(s.loop.get(), started->run_ids(0)), expected);

  s = Stack();
  ref = Stack();
  std::filesystem::remove_all(base);
}

}  // namespace
}  // namespace feedloop
