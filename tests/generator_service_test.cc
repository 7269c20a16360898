// The generator service over gRPC, coupled to a real ranker (in-process),
// and as its own process.

#include <unistd.h>
#include <filesystem>
#include <set>

#include "absl/strings/str_cat.h"
#include "rpc/server.h"
#include "common/status.h"
#include "feedloop/v1/generator.grpc.pb.h"
#include "feedloop/v1/ranker.grpc.pb.h"
#include "stack/generator_server.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "stack/ranker_server.h"
#include "stack/store_server.h"
#include "store/store_client.h"
#include "testing/status_matchers.h"
#include "testing/subprocess.h"
#include "common/paging.h"
#include "rpc/grpc_status.h"

namespace feedloop {
namespace {

using ::feedloop::testing::StatusIs;
using ::testing::HasSubstr;

v1::ExperimentConfig Config(double alpha) {
  v1::ExperimentConfig c;
  c.set_seed(4);
  c.mutable_space()->set_dim(16);
  c.mutable_users()->set_count(50);
  c.mutable_creators()->set_count(20);
  c.mutable_creators()->set_items_per_round(3);
  c.mutable_generator()->set_alpha(alpha);
  c.mutable_ranker()->set_candidates(20);
  return c;
}

absl::Status Open(v1::GeneratorService::Stub* stub, const std::string& run,
                  const v1::ExperimentConfig& config, uint32_t round = 0) {
  v1::OpenRunRequest req;
  req.set_run_id(run);
  *req.mutable_config() = config;
  req.set_round(round);
  grpc::ClientContext ctx;
  v1::GeneratorRunState state;
  return FromGrpcStatus(stub->OpenRun(&ctx, req, &state));
}

absl::StatusOr<v1::GenerateResponse> Generate(v1::GeneratorService::Stub* stub,
                                              const std::string& run,
                                              uint32_t round) {
  v1::GenerateRequest req;
  req.set_run_id(run);
  req.set_round(round);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  // The stream's chunks, merged into one response.
  v1::GenerateResponse resp, chunk;
  auto stream = stub->Generate(&ctx, req);
  while (stream->Read(&chunk)) {
    resp.mutable_items()->MergeFrom(chunk.items());
    resp.set_candidates_drawn(resp.candidates_drawn() + chunk.candidates_drawn());
  }
  FEEDLOOP_RETURN_IF_ERROR(FromGrpcStatus(stream->Finish()));
  return resp;
}

// A store, a ranker on it and a generator coupled to the ranker (and given
// the store when `generator_store`), in this process.
struct Services {
  std::unique_ptr<stack::StoreServer> store;
  std::unique_ptr<stack::RankerServer> ranker;
  std::unique_ptr<stack::GeneratorServer> generator;
};
absl::StatusOr<Services> StartServices(const std::string& dir, bool generator_store) {
  Services s;
  stack::StoreServer::Options so;
  so.data_dir = dir;
  FEEDLOOP_ASSIGN_OR_RETURN(s.store, stack::StoreServer::Start(so));
  stack::RankerServer::Options ro;
  ro.store_address = s.store->address();
  FEEDLOOP_ASSIGN_OR_RETURN(s.ranker, stack::RankerServer::Start(ro));
  stack::GeneratorServer::Options go;
  go.ranker_address = s.ranker->address();
  if (generator_store) go.store_address = s.store->address();
  FEEDLOOP_ASSIGN_OR_RETURN(s.generator, stack::GeneratorServer::Start(go));
  return s;
}

TEST(GeneratorService, CoupledGenerationScoresThroughTheRanker) {
  const std::string dir = absl::StrCat(::testing::TempDir(), "/gen_service_", getpid());
  std::filesystem::remove_all(dir);
  ASSERT_OK_AND_ASSIGN(Services services, StartServices(dir, /*generator_store=*/false));
  auto gen = v1::GeneratorService::NewStub(CreateChannel(services.generator->address()));
  auto rank = v1::RankerService::NewStub(CreateChannel(services.ranker->address()));

  // Coupled: the ranker must know the run.
  ASSERT_OK(Open(gen.get(), "r", Config(0.5)));
  EXPECT_THAT(Generate(gen.get(), "r", 0),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("not open on this ranker")));
  v1::OpenRunRequest open;
  open.set_run_id("r");
  *open.mutable_config() = Config(0.5);
  grpc::ClientContext ctx;
  v1::RankerRunState state;
  ASSERT_OK(FromGrpcStatus(rank->OpenRun(&ctx, open, &state)));
  ASSERT_OK_AND_ASSIGN(auto resp, Generate(gen.get(), "r", 0));
  EXPECT_EQ(resp.items_size(), 60);
  EXPECT_EQ(resp.candidates_drawn(), 60u * 9);  // 1 + round(0.5 * 15)

  // Opening mid-run needs a store to resume from (this one has none);
  // other configs are refused too.
  EXPECT_THAT(Open(gen.get(), "late", Config(0), 3),
              StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("no store")));
  EXPECT_THAT(Open(gen.get(), "r", Config(0.7)),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("different config")));
  auto bad = Config(0);
  bad.mutable_generator()->set_ai_share(1.5);
  EXPECT_THAT(Open(gen.get(), "bad", bad),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("generator.ai_share")));
  std::filesystem::remove_all(dir);
}

TEST(GeneratorService, CoupledGenerateIsUnavailableWithoutTheRanker) {
  // A ranker address where nothing listens: bind a server, note its port,
  // shut it down.
  std::string dead;
  {
    stack::GeneratorServer::Options o;
    ASSERT_OK_AND_ASSIGN(auto placeholder, stack::GeneratorServer::Start(o));
    dead = placeholder->address();
  }
  stack::GeneratorServer::Options go;
  go.ranker_address = dead;
  ASSERT_OK_AND_ASSIGN(auto generator, stack::GeneratorServer::Start(go));
  auto gen = v1::GeneratorService::NewStub(CreateChannel(generator->address()));
  ASSERT_OK(Open(gen.get(), "coupled", Config(0.3)));
  EXPECT_THAT(Generate(gen.get(), "coupled", 0),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("ScoreItems")));
  // Uncoupled runs need no ranker at all.
  ASSERT_OK(Open(gen.get(), "free", Config(0)));
  ASSERT_OK_AND_ASSIGN(auto resp, Generate(gen.get(), "free", 0));
  EXPECT_EQ(resp.items_size(), 60);
}

// The generator lets go of a round once it has streamed it whole. A retry
// before the round is stored draws it again; once the store holds it, it
// comes back from the store. Either way the retry gets the round's items
// unchanged.
TEST(GeneratorService, ARetryOfAStreamedRoundGetsTheSameItems) {
  const std::string dir = absl::StrCat(::testing::TempDir(), "/gen_retry_", getpid());
  std::filesystem::remove_all(dir);
  ASSERT_OK_AND_ASSIGN(Services services, StartServices(dir, /*generator_store=*/true));
  auto gen = v1::GeneratorService::NewStub(CreateChannel(services.generator->address()));
  auto rank = v1::RankerService::NewStub(CreateChannel(services.ranker->address()));
  store::StoreClient store(CreateChannel(services.store->address()));

  const v1::ExperimentConfig config = Config(1);  // coupled: a draw asks the ranker
  v1::RunRecord run;
  run.set_run_id("r");
  *run.mutable_config() = config;
  run.set_status(v1::RUNNING);
  ASSERT_OK(store.CreateRun(run).status());
  v1::OpenRunRequest open;
  open.set_run_id("r");
  *open.mutable_config() = config;
  {
    grpc::ClientContext ctx;
    v1::RankerRunState state;
    ASSERT_OK(FromGrpcStatus(rank->OpenRun(&ctx, open, &state)));
  }
  ASSERT_OK(Open(gen.get(), "r", config));
  ASSERT_OK_AND_ASSIGN(auto first, Generate(gen.get(), "r", 0));
  ASSERT_OK_AND_ASSIGN(auto drawn_again, Generate(gen.get(), "r", 0));
  EXPECT_EQ(drawn_again.SerializeAsString(), first.SerializeAsString());

  // Stored: the retry comes from the store and asks nothing of the ranker
  // (which may have indexed the round by then, when a second draw would
  // differ); here the ranker is gone, so a draw would fail.
  ASSERT_OK(store.Ingest("r", std::vector<v1::Item>(first.items().begin(),
                                                    first.items().end())));
  rank.reset();
  services.ranker.reset();
  ASSERT_OK_AND_ASSIGN(auto from_store, Generate(gen.get(), "r", 0));
  EXPECT_EQ(from_store.SerializeAsString(), first.SerializeAsString());
  std::filesystem::remove_all(dir);
}

// A round larger than one message streams in chunks, and every item
// arrives once, in order.
TEST(GeneratorService, LargeRoundsStreamInChunks) {
  stack::GeneratorServer::Options go;
  ASSERT_OK_AND_ASSIGN(auto generator, stack::GeneratorServer::Start(go));
  auto gen = v1::GeneratorService::NewStub(CreateChannel(generator->address()));
  v1::ExperimentConfig config = Config(0);
  config.mutable_creators()->set_count(120);
  config.mutable_creators()->set_items_per_round(1000);  // 120,000 items
  ASSERT_OK(Open(gen.get(), "large", config));
  v1::GenerateRequest req;
  req.set_run_id("large");
  req.set_round(0);
  grpc::ClientContext ctx;
  auto stream = gen->Generate(&ctx, req);
  std::set<uint64_t> ids;
  v1::GenerateResponse chunk;
  int chunks = 0;
  while (stream->Read(&chunk)) {
    ++chunks;
    EXPECT_LE(chunk.items_size(), 50000);
    // The items' bytes are bounded; each adds a few bytes of framing.
    EXPECT_LE(chunk.ByteSizeLong(), kMaxChunkBytes + kMaxChunkBytes / 16);
    for (const auto& item : chunk.items()) ids.insert(item.id());
  }
  ASSERT_OK(FromGrpcStatus(stream->Finish()));
  EXPECT_GE(chunks, 3);
  EXPECT_EQ(ids.size(), 120000u);
}

// Chunks are cut by bytes as well as by count: a round at dim 4096 is 16 KB
// an item, and 4200 of them (69 MB) went out as one chunk past the 64 MiB
// message limit.
TEST(GeneratorService, ARoundAtTheLargestDimensionStreams) {
  stack::GeneratorServer::Options go;
  ASSERT_OK_AND_ASSIGN(auto generator, stack::GeneratorServer::Start(go));
  auto gen = v1::GeneratorService::NewStub(CreateChannel(generator->address()));
  v1::ExperimentConfig config = Config(0);
  config.mutable_space()->set_dim(4096);
  config.mutable_creators()->set_count(42);
  config.mutable_creators()->set_items_per_round(100);
  ASSERT_OK(Open(gen.get(), "wide", config));
  ASSERT_OK_AND_ASSIGN(v1::GenerateResponse all, Generate(gen.get(), "wide", 0));
  EXPECT_EQ(all.items_size(), 4200);
  EXPECT_EQ(all.items(0).embedding_size(), 4096);
}

TEST(GeneratorService, ServesAsItsOwnProcess) {
  ASSERT_OK_AND_ASSIGN(auto child, ::feedloop::testing::Subprocess::Start(
                                       {FEEDLOOP_BINARY, "serve", "generator",
                                        "--listen=127.0.0.1:0"}));
  ASSERT_OK_AND_ASSIGN(std::string address, child->WaitForListeningAddress());
  auto channel = CreateChannel(address);
  auto health = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext ctx;
  ctx.set_wait_for_ready(true);
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::health::v1::HealthCheckResponse resp;
  ASSERT_TRUE(health->Check(&ctx, {}, &resp).ok());
  EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  auto gen = v1::GeneratorService::NewStub(channel);
  ASSERT_OK(Open(gen.get(), "p", Config(0)));
  ASSERT_OK_AND_ASSIGN(auto items, Generate(gen.get(), "p", 0));
  EXPECT_EQ(items.items_size(), 60);
  gen.reset();
  health.reset();
  channel.reset();
  child->Kill(SIGTERM);
  const int status = child->Wait();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
      << "clean exit on SIGTERM, got status " << status;
}

}  // namespace
}  // namespace feedloop
