#include "loadtest/prepare.h"

#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/random.h"
#include "rpc/server.h"
#include "common/status.h"
#include "config/config.h"
#include "feedloop/v1/ranker.grpc.pb.h"
#include "store/store_client.h"
#include "rpc/grpc_status.h"

namespace feedloop::loadtest {
namespace {

constexpr uint64_t kItemStream = 0x17e35;
constexpr uint32_t kChunk = 50000;

absl::Status Step(absl::Status s, const char* step) {
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat("prepare: ", step, ": ", s.message()));
}

}  // namespace

v1::ExperimentConfig PrepareConfig(const PrepareOptions& o) {
  v1::ExperimentConfig c;
  c.set_name("loadtest");
  c.set_seed(o.seed);
  c.set_rounds(1);
  c.mutable_space()->set_dim(o.dim);
  c.mutable_users()->set_count(o.users);
  c.mutable_ranker()->set_index(o.index);
  // Items stay live however long the test lasts.
  c.mutable_ranker()->set_item_ttl_rounds(c.rounds() + 1);
  return c;
}

std::vector<v1::Item> SyntheticItems(const PrepareOptions& o, uint32_t first,
                                     uint32_t n) {
  std::vector<v1::Item> items(n);
  std::vector<float> e(o.dim);
  for (uint32_t i = 0; i < n; ++i) {
    const uint64_t id = uint64_t{first} + i + 1;
    Rng rng(DeriveSeed(o.seed, kItemStream, id));
    double norm = 0;
    for (float& x : e) {
      x = static_cast<float>(rng.Normal());
      norm += static_cast<double>(x) * x;
    }
    for (float& x : e) x = static_cast<float>(x / std::sqrt(norm));
    items[i].set_id(id);
    items[i].set_round(0);
    items[i].set_creator_id(static_cast<uint32_t>(id % 100));
    items[i].mutable_embedding()->Assign(e.begin(), e.end());
  }
  return items;
}

absl::Status PrepareRun(const PrepareOptions& o) {
  if (o.store.empty()) return absl::InvalidArgumentError("prepare: store: name HOST:PORT");
  if (o.run_id.empty()) return absl::InvalidArgumentError("prepare: run: name the run");
  if (o.items == 0) return absl::InvalidArgumentError("prepare: items: must be at least 1");
  const v1::ExperimentConfig config = PrepareConfig(o);
  FEEDLOOP_RETURN_IF_ERROR(Step(config::ValidateConfig(config), "config"));

  store::StoreClient store(CreateChannel(o.store, o.transport));
  v1::RunRecord run;
  run.set_run_id(o.run_id);
  *run.mutable_config() = config;
  FEEDLOOP_RETURN_IF_ERROR(Step(store.CreateRun(run).status(), "CreateRun"));
  for (uint32_t first = 0; first < o.items; first += kChunk) {
    const std::vector<v1::Item> items =
        SyntheticItems(o, first, std::min(kChunk, o.items - first));
    FEEDLOOP_RETURN_IF_ERROR(Step(store.Ingest(o.run_id, items), "Ingest"));
  }
  if (o.ranker.empty()) return absl::OkStatus();

  auto ranker = v1::RankerService::NewStub(CreateChannel(o.ranker, o.transport));
  v1::OpenRunRequest open;
  open.set_run_id(o.run_id);
  *open.mutable_config() = config;
  open.set_round(0);
  v1::RankerRunState state;
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Minutes(1)));
    ctx.set_wait_for_ready(true);
    FEEDLOOP_RETURN_IF_ERROR(
        Step(FromGrpcStatus(ranker->OpenRun(&ctx, open, &state)), "ranker OpenRun"));
  }
  v1::AdvanceRoundRequest advance;
  advance.set_run_id(o.run_id);
  advance.set_round(0);
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Minutes(30)));
  return Step(FromGrpcStatus(ranker->AdvanceRound(&ctx, advance, &state)),
              "ranker AdvanceRound (indexing)");
}

}  // namespace feedloop::loadtest
