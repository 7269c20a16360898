// The cost model (config/cost.h) against what the services really use: the
// four services as `feedloop serve` processes, one run of a config each of
// three shapes (many users, many items, a large dimension), and each
// process's peak resident memory above its idle size compared with the
// estimate for its service. They must agree within a factor of 2, so that
// the admission check refuses what would not fit and admits what would.
//
// The store is left out: it holds no run in memory (its estimate is the
// chunks in flight), and what it grows by is RocksDB's memtables and
// caches, its fixed overhead. So is a service whose estimate is below
// 32 MiB: there a process's own growth (thread stacks, gRPC's buffers,
// malloc's arenas) is as large as the run's data, and the estimate, which
// leaves the fixed overhead out, cannot be judged by the peak.

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/memory_budget.h"
#include "config/config.h"
#include "config/cost.h"
#include "feedloop/v1/experiment.grpc.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "rpc/grpc_status.h"
#include "rpc/server.h"
#include "store/store_client.h"
#include "testing/status_matchers.h"
#include "testing/subprocess.h"

namespace feedloop {
namespace {

using testing::Subprocess;

// VmHWM (the peak resident set) of a process, in bytes.
uint64_t PeakResident(pid_t pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string key;
  while (in >> key) {
    if (key == "VmHWM:") {
      uint64_t kb = 0;
      in >> kb;
      return kb * 1024;
    }
    std::string rest;
    std::getline(in, rest);
  }
  return 0;
}

std::unique_ptr<Subprocess> Serve(std::vector<std::string> args, std::string* address) {
  args.insert(args.begin(), {FEEDLOOP_BINARY, "serve"});
  auto child = Subprocess::Start(args);
  EXPECT_OK(child.status());
  if (!child.ok()) return nullptr;
  auto addr = (*child)->WaitForListeningAddress();
  EXPECT_OK(addr.status());
  if (address != nullptr && addr.ok()) *address = *addr;
  return *std::move(child);
}

struct Shape {
  const char* name;
  const char* config;
};

void PrintTo(const Shape& shape, std::ostream* os) { *os << shape.name; }

class MemoryEstimateTest : public ::testing::TestWithParam<Shape> {};

TEST_P(MemoryEstimateTest, EstimateIsWithinAFactorOfTwoOfThePeak) {
  ASSERT_OK_AND_ASSIGN(v1::ExperimentConfig config,
                       config::ParseConfig(GetParam().config, GetParam().name));
  ASSERT_OK(config::ValidateConfig(config));
  const std::string dir =
      absl::StrCat(::testing::TempDir(), "/memory_", GetParam().name, "_", getpid());
  std::filesystem::remove_all(dir);
  std::string store_addr, ranker_addr, generator_addr, loop_addr;
  auto store = Serve({"store", "--data_dir", dir, "--sync=false"}, &store_addr);
  ASSERT_NE(store, nullptr);
  auto ranker = Serve({"ranker", "--store", store_addr}, &ranker_addr);
  ASSERT_NE(ranker, nullptr);
  auto generator =
      Serve({"generator", "--ranker", ranker_addr, "--store", store_addr}, &generator_addr);
  ASSERT_NE(generator, nullptr);
  auto loop = Serve({"loop", "--store", store_addr, "--ranker", ranker_addr, "--generator",
                     generator_addr},
                    &loop_addr);
  ASSERT_NE(loop, nullptr);
  struct Measured {
    config::Service service;
    Subprocess* process;
    uint64_t idle = 0;
  };
  std::vector<Measured> measured = {{config::Service::kRanker, ranker.get()},
                                    {config::Service::kGenerator, generator.get()},
                                    {config::Service::kLoop, loop.get()}};
  for (Measured& m : measured) m.idle = PeakResident(m.process->pid());

  auto experiments = v1::ExperimentService::NewStub(CreateChannel(loop_addr));
  v1::StartRunRequest req;
  *req.mutable_config() = config;
  v1::StartRunResponse resp;
  grpc::ClientContext ctx;
  ASSERT_OK(FromGrpcStatus(experiments->StartRun(&ctx, req, &resp)));
  ASSERT_EQ(resp.run_ids_size(), 1);
  store::StoreClient store_client(CreateChannel(store_addr));
  v1::RunRecord run;
  for (const absl::Time give_up = absl::Now() + absl::Minutes(5); absl::Now() < give_up;) {
    ASSERT_OK_AND_ASSIGN(run, store_client.GetRun(resp.run_ids(0)));
    if (run.status() == v1::DONE || run.status() == v1::FAILED) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_EQ(run.status(), v1::DONE) << run.error();

  constexpr uint64_t kSmallest = uint64_t{32} << 20;
  int compared = 0;
  for (const Measured& m : measured) {
    const uint64_t peak = PeakResident(m.process->pid());
    const double grown = static_cast<double>(peak - std::min(peak, m.idle));
    const config::MemoryEstimate e = config::EstimateRunMemory(config, m.service);
    const double ratio = grown / static_cast<double>(e.bytes);
    std::cout << GetParam().name << " " << config::ServiceName(m.service)
              << ": estimate " << FormatBytes(e.bytes) << ", grew " << FormatBytes(grown)
              << " (measured / estimate " << ratio << "; " << e.Describe(4) << ")\n";
    if (e.bytes < kSmallest) continue;
    ++compared;
    EXPECT_GE(ratio, 0.5) << config::ServiceName(m.service) << " overestimated";
    EXPECT_LE(ratio, 2.0) << config::ServiceName(m.service) << " underestimated";
  }
  EXPECT_GE(compared, 2) << "the shape is too small to judge the estimate by";
  for (auto* child : {loop.get(), generator.get(), ranker.get(), store.get()}) {
    child->Kill(SIGTERM);
    child->Wait();
  }
  std::filesystem::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, MemoryEstimateTest,
    ::testing::Values(
        Shape{"users", R"(
          seed: 5 rounds: 3
          space { dim: 32 topics: 8 }
          users { count: 120000 }
          creators { count: 100 items_per_round: 10 }
          generator { alpha: 0.5 reward_users: 256 }
          ranker { candidates: 50 })"},
        Shape{"items", R"(
          seed: 6 rounds: 4
          space { dim: 64 topics: 8 }
          users { count: 2000 }
          creators { count: 1000 items_per_round: 100 }
          generator { alpha: 0 }
          ranker { candidates: 50 item_ttl_rounds: 3 })"},
        Shape{"dim", R"(
          seed: 7 rounds: 3
          space { dim: 768 topics: 8 }
          users { count: 16000 }
          creators { count: 100 items_per_round: 40 }
          generator { alpha: 0.5 reward_users: 64 }
          ranker { candidates: 50 item_ttl_rounds: 3 })"}),
    [](const ::testing::TestParamInfo<Shape>& info) { return std::string(info.param.name); });

}  // namespace
}  // namespace feedloop
