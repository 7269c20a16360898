// IngestService and DiversityService over real gRPC, in-process, on a port
// the OS picks.

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/random.h"
#include "rpc/server.h"
#include "common/status.h"
#include "common/vectors.h"
#include "feedloop/v1/diversity.grpc.pb.h"
#include "feedloop/v1/ingest.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "gtest/gtest.h"
#include "stack/store_server.h"
#include "store/store_client.h"
#include "testing/status_matchers.h"
#include "rpc/grpc_status.h"

namespace feedloop::store {
namespace {

using ::feedloop::testing::StatusIs;
using ::testing::HasSubstr;
using ::feedloop::stack::StoreServer;

constexpr uint32_t kDim = 4;

class StoreServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(::testing::TempDir(), "/store_service_",
                        ::testing::UnitTest::GetInstance()
                            ->current_test_info()
                            ->name());
    std::filesystem::remove_all(dir_);
    StoreServer::Options options;
    options.data_dir = dir_;
    options.threads = 2;
    auto server = StoreServer::Start(options);
    ASSERT_OK(server.status());
    server_ = *std::move(server);
    auto channel = CreateChannel(server_->address());
    ingest_ = v1::IngestService::NewStub(channel);
    diversity_ = v1::DiversityService::NewStub(channel);
    health_ = grpc::health::v1::Health::NewStub(channel);

    v1::CreateRunRequest create;
    create.mutable_run()->set_run_id("run-a");
    create.mutable_run()->set_sweep_id("sw");
    create.mutable_run()->mutable_config()->mutable_space()->set_dim(kDim);
    create.mutable_run()->mutable_config()->mutable_users()->set_count(10);
    v1::RunRecord run;
    grpc::ClientContext ctx;
    ASSERT_OK(FromGrpcStatus(ingest_->CreateRun(&ctx, create, &run)));
  }
  void TearDown() override {
    server_.reset();
    std::filesystem::remove_all(dir_);
  }

  v1::IngestRequest Batch(uint64_t first, int n, uint32_t round) {
    v1::IngestRequest req;
    req.set_run_id("run-a");
    for (int i = 0; i < n; ++i) {
      v1::Item* item = req.add_items();
      item->set_id(first + i);
      item->set_round(round);
      std::vector<float> e(kDim);
      for (float& x : e) x = static_cast<float>(rng_.Normal());
      Normalize(std::span<float>(e));
      item->mutable_embedding()->Assign(e.begin(), e.end());
    }
    return req;
  }
  absl::Status Ingest(const v1::IngestRequest& req) {
    grpc::ClientContext ctx;
    v1::IngestResponse resp;
    return FromGrpcStatus(ingest_->Ingest(&ctx, req, &resp));
  }

  std::string dir_;
  Rng rng_{3};
  std::unique_ptr<StoreServer> server_;
  std::unique_ptr<v1::IngestService::Stub> ingest_;
  std::unique_ptr<v1::DiversityService::Stub> diversity_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
};

TEST_F(StoreServiceTest, ReportsServingOverHealth) {
  grpc::ClientContext ctx;
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  ASSERT_TRUE(health_->Check(&ctx, req, &resp).ok());
  EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST_F(StoreServiceTest, IngestAndScanOverTheWire) {
  for (uint32_t round = 0; round < 3; ++round) {
    ASSERT_OK(Ingest(Batch(1 + 1000 * round, 700, round)));
  }
  v1::ScanItemsRequest scan;
  scan.set_run_id("run-a");
  scan.set_round_from(1);
  scan.set_chunk_size(256);
  grpc::ClientContext ctx;
  auto reader = ingest_->ScanItems(&ctx, scan);
  v1::ScanItemsResponse chunk;
  size_t total = 0, chunks = 0;
  uint32_t last_round = 0;
  while (reader->Read(&chunk)) {
    ++chunks;
    EXPECT_LE(chunk.items_size(), 256);
    for (const auto& item : chunk.items()) {
      EXPECT_GE(item.round(), last_round);
      last_round = item.round();
    }
    total += chunk.items_size();
  }
  ASSERT_OK(FromGrpcStatus(reader->Finish()));
  EXPECT_EQ(total, 1400u);
  EXPECT_EQ(chunks, 6u);  // 1400 / 256 rounded up

  scan.set_round_to(1);
  grpc::ClientContext ctx2;
  reader = ingest_->ScanItems(&ctx2, scan);
  total = 0;
  while (reader->Read(&chunk)) total += chunk.items_size();
  ASSERT_OK(FromGrpcStatus(reader->Finish()));
  EXPECT_EQ(total, 700u);
}

TEST_F(StoreServiceTest, BadInputKeepsItsCodeAndMessageOverTheWire) {
  v1::IngestRequest req = Batch(1, 3, 0);
  req.mutable_items(2)->set_embedding(1, std::nanf(""));
  EXPECT_THAT(Ingest(req), StatusIs(absl::StatusCode::kInvalidArgument,
                                    HasSubstr("items[2].embedding[1]: is NaN")));
  req = Batch(1, 3, 0);
  req.set_run_id("ghost");
  EXPECT_THAT(Ingest(req),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("run 'ghost'")));
  ASSERT_OK(Ingest(Batch(1, 3, 0)));
  EXPECT_THAT(Ingest(Batch(3, 2, 0)),
              StatusIs(absl::StatusCode::kAlreadyExists, HasSubstr("item 3")));

  v1::ScanItemsRequest scan;
  scan.set_run_id("ghost");
  grpc::ClientContext ctx;
  auto reader = ingest_->ScanItems(&ctx, scan);
  v1::ScanItemsResponse chunk;
  EXPECT_FALSE(reader->Read(&chunk));
  EXPECT_THAT(FromGrpcStatus(reader->Finish()),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("ghost")));
}

// The store keeps only runs that would run: a config StartRun would refuse
// (alpha 5, no users, an enum value no version has) is refused here too,
// and nothing is stored.
TEST_F(StoreServiceTest, CreateRunRefusesAConfigThatDoesNotValidate) {
  auto create = [&](const std::string& id, auto edit) {
    v1::CreateRunRequest create;
    create.mutable_run()->set_run_id(id);
    create.mutable_run()->mutable_config()->mutable_space()->set_dim(kDim);
    edit(create.mutable_run()->mutable_config());
    v1::RunRecord run;
    grpc::ClientContext ctx;
    return FromGrpcStatus(ingest_->CreateRun(&ctx, create, &run));
  };
  EXPECT_THAT(create("bad-alpha", [](v1::ExperimentConfig* c) {
                c->mutable_generator()->set_alpha(5);
              }),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("run.config: generator.alpha")));
  EXPECT_THAT(create("no-users", [](v1::ExperimentConfig* c) {
                c->mutable_users()->set_count(0);
              }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("users.count")));
  EXPECT_THAT(create("odd-index", [](v1::ExperimentConfig* c) {
                c->mutable_ranker()->set_index(static_cast<v1::RankerConfig::IndexType>(99));
              }),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("ranker.index: 99")));
  for (const char* id : {"bad-alpha", "no-users", "odd-index"}) {
    v1::GetRunRequest get;
    get.set_run_id(id);
    v1::RunRecord run;
    grpc::ClientContext ctx;
    EXPECT_THAT(FromGrpcStatus(diversity_->GetRun(&ctx, get, &run)),
                StatusIs(absl::StatusCode::kNotFound)) << id;
  }
  EXPECT_OK(create("fine", [](v1::ExperimentConfig*) {}));
}

// A round at dim 4096 (16 KB an item) goes in and comes out in parts cut by
// size: 5000 items are 80 MB, past the 64 MiB message limit as one call.
TEST_F(StoreServiceTest, ARoundAtTheLargestDimensionIsStoredAndScanned) {
  store::StoreClient client(CreateChannel(server_->address()));
  v1::RunRecord wide;
  wide.set_run_id("wide");
  wide.mutable_config()->mutable_space()->set_dim(4096);
  ASSERT_OK(client.CreateRun(wide).status());
  std::vector<v1::Item> items(5000);
  for (size_t i = 0; i < items.size(); ++i) {
    items[i].set_id(i + 1);
    std::vector<float> e(4096, 0.0f);
    e[i % 4096] = 1.0f;
    items[i].mutable_embedding()->Add(e.begin(), e.end());
  }
  ASSERT_OK(client.Ingest("wide", items));
  size_t scanned = 0, chunks = 0;
  ASSERT_OK(client.ScanItems("wide", 0, std::nullopt, [&](std::vector<v1::Item> chunk) {
    scanned += chunk.size();
    ++chunks;
    return absl::OkStatus();
  }));
  EXPECT_EQ(scanned, 5000u);
  EXPECT_GE(chunks, 20u);  // about 4 MiB each
}

TEST_F(StoreServiceTest, OversizedMessageIsRefused) {
  // 70 MiB of floats exceeds the 64 MiB message bound.
  v1::IngestRequest req;
  req.set_run_id("run-a");
  v1::Item* item = req.add_items();
  item->set_id(1);
  item->mutable_embedding()->Resize(70 << 18, 0.5f);
  EXPECT_THAT(Ingest(req), StatusIs(absl::StatusCode::kResourceExhausted,
                                    ::testing::_));
}

TEST_F(StoreServiceTest, SeriesRunsAndPaging) {
  for (uint32_t round = 0; round < 5; ++round) {
    v1::WriteMetricsRequest write;
    write.set_run_id("run-a");
    write.set_round(round);
    write.set_advance_progress(true);
    for (const char* name : {"content.vendi", "slate.ild"}) {
      v1::MetricValue* v = write.add_values();
      v->set_name(name);
      v->set_value(round + 0.5);
    }
    grpc::ClientContext ctx;
    v1::WriteMetricsResponse resp;
    ASSERT_OK(FromGrpcStatus(ingest_->WriteMetrics(&ctx, write, &resp)));
  }
  v1::GetSeriesRequest get;
  get.add_run_ids("run-a");
  get.set_round_from(2);
  get.set_page_size(1);
  v1::GetSeriesResponse series;
  {
    grpc::ClientContext ctx;
    ASSERT_OK(FromGrpcStatus(diversity_->GetSeries(&ctx, get, &series)));
  }
  ASSERT_EQ(series.series_size(), 1);
  EXPECT_EQ(series.series(0).metric(), "content.vendi");
  EXPECT_THAT(series.series(0).rounds(), ::testing::ElementsAre(2, 3, 4));
  ASSERT_FALSE(series.next_page_token().empty());
  get.set_page_token(series.next_page_token());
  {
    grpc::ClientContext ctx;
    ASSERT_OK(FromGrpcStatus(diversity_->GetSeries(&ctx, get, &series)));
  }
  EXPECT_EQ(series.series(0).metric(), "slate.ild");
  EXPECT_TRUE(series.next_page_token().empty());

  get.clear_page_token();
  get.add_metrics("content.nope");
  {
    grpc::ClientContext ctx;
    EXPECT_THAT(FromGrpcStatus(diversity_->GetSeries(&ctx, get, &series)),
                StatusIs(absl::StatusCode::kNotFound, HasSubstr("content.nope")));
  }

  v1::GetRunRequest get_run;
  get_run.set_run_id("run-a");
  v1::RunRecord run;
  grpc::ClientContext ctx;
  ASSERT_OK(FromGrpcStatus(diversity_->GetRun(&ctx, get_run, &run)));
  EXPECT_EQ(run.rounds_done(), 5u);

  v1::ListRunsRequest list;
  list.set_sweep_id("sw");
  v1::ListRunsResponse runs;
  grpc::ClientContext ctx2;
  ASSERT_OK(FromGrpcStatus(diversity_->ListRuns(&ctx2, list, &runs)));
  ASSERT_EQ(runs.runs_size(), 1);
  list.set_sweep_id("other");
  grpc::ClientContext ctx3;
  ASSERT_OK(FromGrpcStatus(diversity_->ListRuns(&ctx3, list, &runs)));
  EXPECT_EQ(runs.runs_size(), 0);
}

}  // namespace
}  // namespace feedloop::store
