// Runs survive any process dying (label `crash`). The four services run as
// `feedloop serve` processes on loopback, each on a port of its own that it
// keeps across restarts; the tests SIGKILL them and start them again, and
// compare the run's metrics.csv with an uninterrupted run of the same
// config and experiment id, byte for byte.

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/random.h"
#include "common/status.h"
#include "common/vectors.h"
#include "config/config.h"
#include "feedloop/v1/experiment.grpc.pb.h"
#include "feedloop/v1/ranker.grpc.pb.h"
#include "glog/logging.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "loop/experiment_service.h"
#include "report/outputs.h"
#include "rpc/grpc_status.h"
#include "rpc/server.h"
#include "stack/embedded_stack.h"
#include "store/item_store.h"
#include "store/store_client.h"
#include "testing/net.h"
#include "testing/status_matchers.h"
#include "testing/subprocess.h"

namespace feedloop {
namespace {

using ::testing::HasSubstr;
using testing::FreePort;
using testing::Subprocess;

// Every piece of state matters: coupled creators, the platform's model,
// drifting users, MMR, the learned ranker.
constexpr char kConfig[] = R"(
    name: "crash" seed: 77 rounds: 32
    space { dim: 8 topics: 4 }
    users { count: 120 drift: 0.1 }
    creators { count: 10 items_per_round: 4 }
    generator { alpha: 1 ai_share: 0.3 reward_users: 32 }
    ranker { candidates: 30 item_ttl_rounds: 3 mmr_lambda: 0.5 })";

v1::ExperimentConfig Config(uint32_t rounds = 32) {
  auto c = config::ParseConfig(kConfig, "crash");
  EXPECT_OK(c.status());
  c->set_rounds(rounds);
  return *c;
}

std::string Scratch(const std::string& name) {
  const std::string dir = absl::StrCat(::testing::TempDir(), "/crash_", getpid(), "_", name);
  std::filesystem::remove_all(dir);
  return dir;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// metrics.csv of experiment `id`, as `feedloop run` writes it.
std::string MetricsCsv(store::StoreClient& store, const std::string& id,
                       const v1::ExperimentConfig& config, const std::string& dir) {
  v1::StartRunResponse started;
  started.add_run_ids(id);
  auto result = report::CollectResults(&store, started, config, 1.0);
  EXPECT_OK(result.status());
  if (!result.ok()) return "";
  EXPECT_OK(report::WriteOutputs(dir, *result));
  return ReadFile(dir + "/metrics.csv");
}

// The same experiment played without interruption, in-process.
std::string Uninterrupted(const v1::ExperimentConfig& config, const std::string& id) {
  const std::string dir = Scratch(absl::StrCat("calm_", config.rounds()));
  stack::EmbeddedStack::Options options;
  options.data_dir = dir + "/store";
  auto stack = stack::EmbeddedStack::Start(options);
  EXPECT_OK(stack.status());
  if (!stack.ok()) return "";
  EXPECT_OK((*stack)->experiments()->Start(config, id).status());
  (*stack)->experiments()->WaitUntilIdle();
  store::StoreClient store(CreateChannel((*stack)->store_address()));
  const std::string csv = MetricsCsv(store, id, config, dir + "/out");
  stack->reset();
  std::filesystem::remove_all(dir);
  return csv;
}

// The four services as processes, each on its own port for good.
// Writes a run record straight into the database at `dir` (no store
// process running), as an older version of feedloop could have: the
// service's config check is bypassed. With `owner`, claimed for 1 s.
absl::Status WriteOldRecord(const std::string& dir, const v1::RunRecord& run,
                            const std::string& owner) {
  store::ItemStore::Options options;
  options.path = dir;
  std::filesystem::create_directories(dir);
  FEEDLOOP_ASSIGN_OR_RETURN(auto db, store::ItemStore::Open(options));
  FEEDLOOP_RETURN_IF_ERROR(db->CreateRun(run));
  if (!owner.empty()) {
    FEEDLOOP_RETURN_IF_ERROR(db->ClaimRun(run.run_id(), owner, absl::Seconds(1)).status());
  }
  return absl::OkStatus();
}

class Cluster {
 public:
  explicit Cluster(std::string dir) : dir_(std::move(dir)) {
    for (auto* port : {&store_, &ranker_, &generator_, &loop_}) {
      *port = absl::StrCat("127.0.0.1:", FreePort());
    }
  }
  ~Cluster() {
    for (auto& child : children_) {
      if (child != nullptr) {
        child->Kill(SIGTERM);
        child->Wait();
      }
    }
  }

  enum Service { kStore, kRanker, kGenerator, kLoop };
  static constexpr const char* kNames[] = {"store", "ranker", "generator", "loop"};

  void StartAll() {
    for (Service s : {kStore, kRanker, kGenerator, kLoop}) Start(s);
  }
  void Start(Service s, std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {FEEDLOOP_BINARY, "serve", kNames[s]};
    auto add = [&](std::initializer_list<std::string> more) {
      args.insert(args.end(), more);
    };
    switch (s) {
      case kStore:
        add({"--listen", store_, "--data_dir", dir_});
        break;
      case kRanker:
        add({"--listen", ranker_, "--store", store_});
        break;
      case kGenerator:
        add({"--listen", generator_, "--ranker", ranker_, "--store", store_});
        break;
      case kLoop:
        add({"--listen", loop_, "--store", store_, "--ranker", ranker_, "--generator",
             generator_, "--owner", loop_owner_, "--lease", "2s"});
        break;
    }
    args.insert(args.end(), extra.begin(), extra.end());
    auto child = Subprocess::Start(args);
    ASSERT_OK(child.status());
    ASSERT_OK((*child)->WaitForListeningAddress().status()) << kNames[s];
    children_[s] = *std::move(child);
  }
  void Kill(Service s) {
    children_[s]->Kill(SIGKILL);
    children_[s]->Wait();
    children_[s].reset();
  }
  void set_loop_owner(const std::string& owner) { loop_owner_ = owner; }

  const std::string& store() const { return store_; }
  const std::string& ranker() const { return ranker_; }
  const std::string& generator() const { return generator_; }
  const std::string& loop() const { return loop_; }

 private:
  std::string dir_;
  std::string store_, ranker_, generator_, loop_;
  std::string loop_owner_ = "loop-a";
  std::unique_ptr<Subprocess> children_[4];
};

void StartExperiment(const std::string& loop, const v1::ExperimentConfig& config,
                     const std::string& id) {
  auto experiments = v1::ExperimentService::NewStub(CreateChannel(loop));
  v1::StartRunRequest req;
  *req.mutable_config() = config;
  req.set_experiment_id(id);
  v1::StartRunResponse resp;
  grpc::ClientContext ctx;
  ctx.set_wait_for_ready(true);
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  ASSERT_OK(FromGrpcStatus(experiments->StartRun(&ctx, req, &resp)));
}

bool Ended(const v1::RunRecord& r) {
  return r.status() == v1::DONE || r.status() == v1::FAILED || r.status() == v1::STOPPED;
}

// The run's record once `done` holds (or after `timeout`).
v1::RunRecord WaitFor(store::StoreClient& store, const std::string& run_id,
                      const std::function<bool(const v1::RunRecord&)>& done,
                      absl::Duration timeout = absl::Seconds(240)) {
  const absl::Time give_up = absl::Now() + timeout;
  v1::RunRecord run;
  while (absl::Now() < give_up) {
    auto r = store.GetRun(run_id);
    if (r.ok()) {
      run = *r;
      if (done(run)) break;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return run;
}

struct Played {
  v1::RunRecord run;
  std::string csv;
};

// Plays `config` on the cluster while a seeded schedule SIGKILLs one of
// `targets` at a random moment, `kills` times spread over the run, each
// restarted at once. Returns the run's end and its metrics.csv.
Played PlayUnderKills(Cluster& cluster, const v1::ExperimentConfig& config,
                           const std::string& id, std::vector<Cluster::Service> targets,
                           int kills, uint64_t seed, const std::string& out,
                           std::vector<std::string> generator_flags = {}) {
  StartExperiment(cluster.loop(), config, id);
  store::StoreClient::Options so;
  so.deadline = absl::Seconds(20);
  store::StoreClient store(CreateChannel(cluster.store()), so);
  Rng rng(seed);
  std::map<std::string, int> killed;
  for (int k = 0; k < kills; ++k) {
    // Kill k comes once the run is past its share of the rounds, a random
    // few milliseconds into a round.
    const uint32_t after = static_cast<uint32_t>(
        (k * uint64_t{config.rounds() - 2}) / kills);
    v1::RunRecord run = WaitFor(store, id, [&](const v1::RunRecord& r) {
      return r.rounds_done() >= after || Ended(r);
    });
    if (Ended(run)) break;
    absl::SleepFor(absl::Milliseconds(rng.UniformInt(60)));
    const Cluster::Service victim = targets[rng.UniformInt(targets.size())];
    cluster.Kill(victim);
    ++killed[Cluster::kNames[victim]];
    cluster.Start(victim,
                  victim == Cluster::kGenerator ? generator_flags : std::vector<std::string>{});
  }
  Played played;
  played.run = WaitFor(store, id, Ended);
  std::string summary;
  for (const auto& [name, n] : killed) absl::StrAppend(&summary, name, " x", n, " ");
  LOG(INFO) << "killed " << summary;
  played.csv = MetricsCsv(store, id, config, out);
  return played;
}

TEST(Crash, KillScheduleLeavesTheMetricsBitIdentical) {
  const v1::ExperimentConfig config = Config();
  const std::string calm = Uninterrupted(config, "crash-kills");
  ASSERT_THAT(calm, HasSubstr("content.vendi"));

  const std::string dir = Scratch("kills");
  Cluster cluster(dir + "/store");
  cluster.StartAll();
  const Played played = PlayUnderKills(
      cluster, config, "crash-kills",
      {Cluster::kStore, Cluster::kRanker, Cluster::kGenerator, Cluster::kLoop},
      /*kills=*/20, /*seed=*/20261202, dir + "/out");
  EXPECT_EQ(played.run.status(), v1::DONE) << played.run.error();
  EXPECT_EQ(played.run.rounds_done(), config.rounds());
  EXPECT_GT(std::count(played.csv.begin(), played.csv.end(), '\n'), 32 * 20);
  EXPECT_TRUE(played.csv == calm) << "metrics.csv differs from the uninterrupted run's";
}

TEST(Crash, WithoutTheGeneratorsReplayTheMetricsDiffer) {
  // The same check, with the generator resumed without observing its last
  // round again: the mechanism switched off must show. Either a redone
  // round generates other items than the ones stored (the store refuses
  // them, and the run fails naming the item), or the rounds after a kill
  // measure something else.
  const v1::ExperimentConfig config = Config(12);
  const std::string calm = Uninterrupted(config, "crash-ablation");
  const std::string dir = Scratch("ablation");
  Cluster cluster(dir + "/store");
  cluster.StartAll();
  const Played played =
      PlayUnderKills(cluster, config, "crash-ablation", {Cluster::kGenerator}, /*kills=*/3,
                     /*seed=*/7, dir + "/out", {"--replay_outcomes=false"});
  if (played.run.status() == v1::FAILED) {
    EXPECT_THAT(played.run.error(), HasSubstr("with other content"));
  } else {
    EXPECT_EQ(played.run.status(), v1::DONE) << played.run.error();
    EXPECT_FALSE(played.csv == calm) << "the ablation changed nothing: the test cannot fail";
  }
}

TEST(Crash, AnOrphanedRunIsAdoptedOnceItsLeaseEnds) {
  const v1::ExperimentConfig config = Config(12);
  const std::string calm = Uninterrupted(config, "crash-orphan");
  const std::string dir = Scratch("orphan");
  // A run record whose config no longer validates (written by an older
  // version: the store's service refuses such a config now), left RUNNING
  // by a loop that died long ago.
  {
    v1::RunRecord stale;
    stale.set_run_id("crash-stale");
    *stale.mutable_config() = config;
    stale.mutable_config()->mutable_users()->set_count(0);
    ASSERT_OK(WriteOldRecord(dir + "/store", stale, "dead-loop"));
  }
  Cluster cluster(dir + "/store");
  cluster.StartAll();
  store::StoreClient store(CreateChannel(cluster.store()));

  StartExperiment(cluster.loop(), config, "crash-orphan");
  v1::RunRecord run = WaitFor(store, "crash-orphan",
                              [](const v1::RunRecord& r) { return r.rounds_done() >= 4; });
  ASSERT_LT(run.rounds_done(), config.rounds());
  cluster.Kill(Cluster::kLoop);
  absl::SleepFor(absl::Seconds(3));  // past the 2 s lease
  run = WaitFor(store, "crash-orphan", Ended, absl::Seconds(1));
  EXPECT_EQ(run.status(), v1::RUNNING);
  EXPECT_EQ(run.owner(), "loop-a");
  // Another loop, under another name, adopts both runs.
  cluster.set_loop_owner("loop-b");
  cluster.Start(Cluster::kLoop);
  run = WaitFor(store, "crash-orphan", Ended);
  EXPECT_EQ(run.status(), v1::DONE) << run.error();
  EXPECT_TRUE(MetricsCsv(store, "crash-orphan", config, dir + "/out") == calm);
  run = WaitFor(store, "crash-stale", Ended, absl::Seconds(30));
  EXPECT_EQ(run.status(), v1::FAILED);
  EXPECT_THAT(run.error(), HasSubstr("no longer validates"));
  EXPECT_THAT(run.error(), HasSubstr("users.count"));
}

TEST(Crash, AColdRankerServesAtOnceAndFailsOnlyTheRunItCannotOpen) {
  const std::string dir = Scratch("cold");
  // 50 orphaned RUNNING runs with a round done; one of them cannot be
  // opened (its config no longer validates: an older version's record).
  {
    v1::RunRecord old;
    old.set_run_id("orphan-17");
    *old.mutable_config() = Config(4);
    old.mutable_config()->mutable_ranker()->set_candidates(0);
    ASSERT_OK(WriteOldRecord(dir + "/store", old, ""));
  }
  Cluster cluster(dir + "/store");
  cluster.Start(Cluster::kStore);
  store::StoreClient store(CreateChannel(cluster.store()));
  Rng rng(5);
  for (int i = 0; i < 50; ++i) {
    v1::RunRecord run;
    run.set_run_id(absl::StrCat("orphan-", i));
    *run.mutable_config() = Config(4);
    if (i != 17) {
      ASSERT_OK(store.CreateRun(run).status());
    }
    std::vector<v1::Item> items(40);
    for (uint32_t k = 0; k < items.size(); ++k) {
      items[k].set_id(k + 1);
      std::vector<float> e(8);
      for (float& x : e) x = static_cast<float>(rng.Normal());
      Normalize(e);
      items[k].mutable_embedding()->Add(e.begin(), e.end());
    }
    ASSERT_OK(store.Ingest(run.run_id(), items));
    v1::WriteMetricsRequest commit;
    commit.set_run_id(run.run_id());
    commit.add_values()->set_name("content.vendi");
    commit.set_advance_progress(true);
    ASSERT_OK(store.WriteMetrics(commit));
    ASSERT_OK(store.ClaimRun(run.run_id(), "dead-loop", absl::Seconds(1)).status());
    v1::UpdateRunRequest running;
    running.set_run_id(run.run_id());
    running.set_status(v1::RUNNING);
    ASSERT_OK(store.UpdateRun(running).status());
  }
  const absl::Time start = absl::Now();
  cluster.Start(Cluster::kRanker);
  auto health = Subprocess::Start({FEEDLOOP_BINARY, "health", cluster.ranker()});
  ASSERT_OK(health.status());
  ASSERT_OK_AND_ASSIGN(std::string said, (*health)->ReadAll(absl::Seconds(20)));
  EXPECT_THAT(said, HasSubstr("SERVING"));
  LOG(INFO) << "cold ranker SERVING after " << absl::Now() - start << " with 50 orphans";

  auto ranker = v1::RankerService::NewStub(CreateChannel(cluster.ranker()));
  auto rank = [&](const std::string& run_id) {
    v1::RankRequest req;
    req.set_run_id(run_id);
    req.mutable_user()->set_user_id(1);
    req.set_slate_size(5);
    v1::RankResponse resp;
    grpc::ClientContext ctx;
    return FromGrpcStatus(ranker->Rank(&ctx, req, &resp));
  };
  EXPECT_OK(rank("orphan-3"));
  const absl::Status bad = rank("orphan-17");
  EXPECT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.message()), HasSubstr("orphan-17"));
  EXPECT_THAT(std::string(bad.message()), HasSubstr("ranker.candidates"));
  EXPECT_OK(rank("orphan-42"));
}

TEST(Crash, TheJobsCommandKilledAndRerunFinishesTheExperiment) {
  // What the Kubernetes loop Job runs: feedloop run on the deployed
  // services, with a fixed experiment id and owner.
  const v1::ExperimentConfig config = Config(16);
  const std::string calm = Uninterrupted(config, "crash-job");
  const std::string dir = Scratch("job");
  Cluster cluster(dir + "/store");
  for (auto s : {Cluster::kStore, Cluster::kRanker, Cluster::kGenerator}) cluster.Start(s);
  const std::string config_path = dir + "/experiment.pbtxt";
  std::ofstream(config_path) << config.DebugString();
  const std::vector<std::string> job = {
      FEEDLOOP_BINARY, "run", "--config", config_path, "-o", dir + "/out",
      "--store", cluster.store(), "--ranker", cluster.ranker(), "--generator",
      cluster.generator(), "--id", "crash-job", "--owner", "feedloop-loop-job"};
  store::StoreClient store(CreateChannel(cluster.store()));
  {
    ASSERT_OK_AND_ASSIGN(auto first, Subprocess::Start(job));
    const v1::RunRecord run = WaitFor(
        store, "crash-job", [](const v1::RunRecord& r) { return r.rounds_done() >= 5; });
    ASSERT_LT(run.rounds_done(), config.rounds());
    first->Kill(SIGKILL);
    first->Wait();
  }
  ASSERT_OK_AND_ASSIGN(auto retry, Subprocess::Start(job));
  ASSERT_OK_AND_ASSIGN(std::string said, retry->ReadAll(absl::Seconds(240)));
  EXPECT_THAT(said, HasSubstr("continuing: 1 of its runs"));
  EXPECT_EQ(WEXITSTATUS(retry->Wait()), 0) << said;
  EXPECT_TRUE(ReadFile(dir + "/out/crash-job/metrics.csv") == calm);
}

}  // namespace
}  // namespace feedloop
