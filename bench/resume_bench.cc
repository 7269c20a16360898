// What durability costs (issue 15), on the default config at alpha = 1:
// - the checkpoint: its bytes per round, and the time of a round's commit
//   with it against the same commit without it, as a share of a round;
// - resuming a run at round R (default 100): a fresh loop state, ranker
//   and generator rebuilt from the store, as a multiple of one round's time.
//
//   build/bench/resume_bench [--rounds 100] [--config configs/default.pbtxt]

#include <filesystem>
#include <iostream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "common/status.h"
#include "config/config.h"
#include "feedloop/v1/diversity.pb.h"
#include "feedloop/v1/generator.grpc.pb.h"
#include "feedloop/v1/ranker.grpc.pb.h"
#include "loop/experiment_service.h"
#include "loop/loop_state.h"
#include "rpc/server.h"
#include "stack/embedded_stack.h"
#include "stack/generator_server.h"
#include "stack/ranker_server.h"
#include "store/store_client.h"

ABSL_FLAG(std::string, config, "configs/default.pbtxt", "experiment config");
ABSL_FLAG(uint32_t, rounds, 100, "rounds to play before resuming");
ABSL_FLAG(std::string, dir, "/tmp/feedloop_resume_bench", "scratch folder");

namespace feedloop {
namespace {

template <typename T>
T OrDie(absl::StatusOr<T> v) {
  if (!v.ok()) {
    std::cerr << v.status() << "\n";
    std::exit(1);
  }
  return *std::move(v);
}

int Main() {
  v1::ExperimentConfig config = OrDie(config::LoadConfigFile(absl::GetFlag(FLAGS_config)));
  config.clear_sweep();
  config.mutable_generator()->set_alpha(1);
  config.set_rounds(absl::GetFlag(FLAGS_rounds));
  const std::string dir = absl::GetFlag(FLAGS_dir);
  std::filesystem::remove_all(dir);
  stack::EmbeddedStack::Options options;
  options.data_dir = dir;
  auto stack = OrDie(stack::EmbeddedStack::Start(options));
  const std::string id = "resume-bench";
  const absl::Time start = absl::Now();
  OrDie(stack->experiments()->Start(config, id));
  stack->experiments()->WaitUntilIdle();
  const double round_s = absl::ToDoubleSeconds(absl::Now() - start) / config.rounds();
  store::StoreClient store(CreateChannel(stack->store_address()));
  const v1::RunRecord run = OrDie(store.GetRun(id));
  if (run.status() != v1::DONE) {
    std::cerr << "run ended " << v1::RunStatus_Name(run.status()) << ": " << run.error() << "\n";
    return 1;
  }

  // The checkpoint: bytes per round, and a commit's time with and without.
  size_t bytes = 0;
  absl::Duration with, without;
  for (uint32_t r = 0; r < config.rounds(); ++r) {
    const v1::RoundCheckpoint checkpoint = OrDie(store.GetCheckpoint(id, r));
    bytes += checkpoint.ByteSizeLong();
    auto rounds = OrDie(store.GetSeries([&] {
      v1::GetSeriesRequest req;
      req.add_run_ids(id);
      req.set_round_from(r);
      req.set_round_to(r);
      return req;
    }()));
    v1::WriteMetricsRequest commit;
    commit.set_run_id(id);
    commit.set_round(r);
    for (const auto& s : rounds.series()) {
      if (s.values_size() == 0) continue;
      v1::MetricValue* v = commit.add_values();
      v->set_name(s.metric());
      v->set_value(s.values(0));
    }
    commit.set_advance_progress(true);
    absl::Time t = absl::Now();
    if (!store.WriteMetrics(commit).ok()) return 1;
    without += absl::Now() - t;
    *commit.mutable_checkpoint() = checkpoint;
    t = absl::Now();
    if (!store.WriteMetrics(commit).ok()) return 1;
    with += absl::Now() - t;
  }
  const double n = config.rounds();
  std::cout << absl::StrFormat(
      "round: %.3f s (mean of %d)\ncheckpoint: %.0f bytes per round; commit %.2f ms with, "
      "%.2f ms without: %.5f of a round\n",
      round_s, config.rounds(), bytes / n, absl::ToDoubleMilliseconds(with) / n,
      absl::ToDoubleMilliseconds(without) / n,
      absl::ToDoubleSeconds(with - without) / n / round_s);

  // Resuming at the last round: each part from scratch, from the store.
  const uint32_t at = config.rounds() - 1;
  absl::Time t = absl::Now();
  auto state = OrDie(loop::LoopState::Resume(config, store, id, at));
  const double loop_s = absl::ToDoubleSeconds(absl::Now() - t);
  stack::RankerServer::Options ro;
  ro.store_address = stack->store_address();
  auto ranker = OrDie(stack::RankerServer::Start(ro));
  stack::GeneratorServer::Options go;
  go.ranker_address = ranker->address();
  go.store_address = stack->store_address();
  auto generator = OrDie(stack::GeneratorServer::Start(go));
  v1::OpenRunRequest open;
  open.set_run_id(id);
  *open.mutable_config() = config;
  open.set_round(at);
  t = absl::Now();
  {
    auto stub = v1::RankerService::NewStub(CreateChannel(ranker->address()));
    grpc::ClientContext ctx;
    v1::RankerRunState s;
    if (!stub->OpenRun(&ctx, open, &s).ok()) return 1;
  }
  const double ranker_s = absl::ToDoubleSeconds(absl::Now() - t);
  t = absl::Now();
  {
    auto stub = v1::GeneratorService::NewStub(CreateChannel(generator->address()));
    grpc::ClientContext ctx;
    v1::GeneratorRunState s;
    grpc::Status status = stub->OpenRun(&ctx, open, &s);
    if (!status.ok()) {
      std::cerr << status.error_message() << "\n";
      return 1;
    }
  }
  const double generator_s = absl::ToDoubleSeconds(absl::Now() - t);
  std::cout << absl::StrFormat(
      "resume at round %d: loop %.3f s, ranker %.3f s, generator %.3f s; %.1f rounds' "
      "time in all (%.1f for the slowest, run in parallel)\n",
      at, loop_s, ranker_s, generator_s, (loop_s + ranker_s + generator_s) / round_s,
      std::max({loop_s, ranker_s, generator_s}) / round_s);
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace
}  // namespace feedloop

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return feedloop::Main();
}
