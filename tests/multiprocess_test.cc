// The four services as four `feedloop serve` processes on loopback, as
// operators run them. The ranker is SIGKILLed mid-run and started again on
// its port: the loop retries, the new ranker rebuilds the run from the
// store, and the run completes with every item and the same metrics as an
// undisturbed run of the same config.

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status.h"
#include "config/config.h"
#include "feedloop/v1/diversity.pb.h"
#include "feedloop/v1/experiment.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rpc/grpc_status.h"
#include "rpc/server.h"
#include "store/store_client.h"
#include "testing/net.h"
#include "testing/status_matchers.h"
#include "testing/subprocess.h"

namespace feedloop {
namespace {

using testing::FreePort;
using testing::Subprocess;


std::unique_ptr<Subprocess> Serve(std::vector<std::string> args, std::string* address,
                                  std::string* metrics = nullptr) {
  args.insert(args.begin(), {FEEDLOOP_BINARY, "serve"});
  auto child = Subprocess::Start(args);
  EXPECT_OK(child.status());
  if (!child.ok()) return nullptr;
  if (metrics != nullptr) {  // "metrics on http://HOST:PORT/metrics" comes first
    auto line = (*child)->ReadLineContaining("metrics on http://", absl::Seconds(20));
    EXPECT_OK(line.status());
    if (!line.ok()) return nullptr;
    const size_t from = line->find("http://") + 7;
    *metrics = line->substr(from, line->find("/metrics") - from);
  }
  auto addr = (*child)->WaitForListeningAddress();
  EXPECT_OK(addr.status());
  if (address != nullptr && addr.ok()) *address = *addr;
  return *std::move(child);
}

constexpr uint32_t kRounds = 10;
constexpr uint32_t kItemsPerRound = 40 * 8;

v1::ExperimentConfig Config() {
  auto c = config::ParseConfig(absl::StrCat(R"(
      name: "multiprocess" seed: 3 rounds: )", kRounds, R"(
      space { dim: 16 topics: 6 }
      users { count: 1500 }
      creators { count: 40 items_per_round: 8 }
      generator { alpha: 0.5 reward_users: 64 }
      ranker { index: IVF candidates: 40 item_ttl_rounds: 4 })"),
                               "multiprocess");
  EXPECT_OK(c.status());
  return *c;
}

TEST(MultiProcess, RunSurvivesSigkilledRanker) {
  const std::string dir = absl::StrCat(::testing::TempDir(), "/multiprocess_", getpid());
  std::filesystem::remove_all(dir);
  std::string store_addr, generator_addr, loop_addr, loop_metrics;
  auto store = Serve({"store", "--listen", "127.0.0.1:0", "--data_dir", dir}, &store_addr);
  ASSERT_NE(store, nullptr);
  // The ranker keeps its port across the restart: the others dial it.
  const std::string ranker_addr = absl::StrCat("127.0.0.1:", FreePort());
  auto ranker = Serve({"ranker", "--listen", ranker_addr, "--store", store_addr}, nullptr);
  ASSERT_NE(ranker, nullptr);
  auto generator =
      Serve({"generator", "--listen", "127.0.0.1:0", "--ranker", ranker_addr}, &generator_addr);
  ASSERT_NE(generator, nullptr);
  auto loop = Serve({"loop", "--listen", "127.0.0.1:0", "--store", store_addr, "--ranker",
                     ranker_addr, "--generator", generator_addr, "--metrics_listen",
                     "127.0.0.1:0"},
                    &loop_addr, &loop_metrics);
  ASSERT_NE(loop, nullptr);

  auto experiments = v1::ExperimentService::NewStub(CreateChannel(loop_addr));
  store::StoreClient store_client(CreateChannel(store_addr));
  auto start = [&]() -> std::string {
    v1::StartRunRequest req;
    *req.mutable_config() = Config();
    v1::StartRunResponse resp;
    grpc::ClientContext ctx;
    EXPECT_OK(FromGrpcStatus(experiments->StartRun(&ctx, req, &resp)));
    return resp.run_ids_size() == 1 ? resp.run_ids(0) : "";
  };
  auto finished = [](const v1::RunRecord& r) {
    return r.status() == v1::DONE || r.status() == v1::FAILED || r.status() == v1::STOPPED;
  };
  auto wait_for = [&](const std::string& run_id, auto done) -> v1::RunRecord {
    const absl::Time give_up = absl::Now() + absl::Seconds(180);
    v1::RunRecord run;
    while (absl::Now() < give_up) {
      auto r = store_client.GetRun(run_id);
      if (r.ok()) {
        run = *r;
        if (done(run)) break;
      }
      absl::SleepFor(absl::Milliseconds(20));
    }
    return run;
  };

  // The disturbed run: kill the ranker once 3 rounds are done, restart it.
  const std::string killed = start();
  ASSERT_FALSE(killed.empty());
  v1::RunRecord run =
      wait_for(killed, [](const v1::RunRecord& r) { return r.rounds_done() >= 3; });
  ASSERT_GE(run.rounds_done(), 3u) << run.ShortDebugString();
  ASSERT_LT(run.rounds_done(), kRounds) << "the run ended before the kill";
  ranker->Kill(SIGKILL);
  ranker->Wait();
  ranker = Serve({"ranker", "--listen", ranker_addr, "--store", store_addr}, nullptr);
  ASSERT_NE(ranker, nullptr);
  run = wait_for(killed, finished);
  ASSERT_EQ(run.status(), v1::DONE) << run.error();
  EXPECT_EQ(run.rounds_done(), kRounds);

  // Every round's items are in the store, once each.
  std::map<uint32_t, int> per_round;
  std::set<uint64_t> ids;
  ASSERT_OK(store_client.ScanItems(killed, 0, std::nullopt, [&](std::vector<v1::Item> chunk) {
    for (const auto& item : chunk) {
      ++per_round[item.round()];
      ids.insert(item.id());
    }
    return absl::OkStatus();
  }));
  EXPECT_EQ(ids.size(), size_t{kRounds} * kItemsPerRound);
  // The loop's Prometheus metrics saw every round.
  EXPECT_THAT(testing::HttpGet(loop_metrics, "/metrics"),
              ::testing::HasSubstr(absl::StrCat("feedloop_run_rounds_done{run=\"", killed,
                                                "\"} ", kRounds)));
  for (uint32_t r = 0; r < kRounds; ++r) EXPECT_EQ(per_round[r], int{kItemsPerRound}) << r;

  // The same config undisturbed gives the same metrics, bit for bit.
  const std::string calm = start();
  run = wait_for(calm, finished);
  ASSERT_EQ(run.status(), v1::DONE) << run.error();
  auto series = [&](const std::string& run_id) {
    std::map<std::pair<std::string, uint32_t>, double> out;
    v1::GetSeriesRequest req;
    req.add_run_ids(run_id);
    auto resp = store_client.GetSeries(req);
    EXPECT_OK(resp.status());
    for (const auto& s : resp->series()) {
      for (int i = 0; i < s.rounds_size(); ++i) out[{s.metric(), s.rounds(i)}] = s.values(i);
    }
    return out;
  };
  const auto a = series(killed), b = series(calm);
  EXPECT_GT(a.size(), 100u);
  EXPECT_EQ(a, b);

  for (auto* child : {loop.get(), generator.get(), ranker.get(), store.get()}) {
    child->Kill(SIGTERM);
    child->Wait();
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace feedloop
