// Durability under SIGKILL. A real `feedloop serve store` child is killed at
// seeded random moments while this test ingests batches into it over gRPC.
// After each restart, every acknowledged item must be present and
// byte-identical, and the one batch in flight at the kill must be either
// wholly present or wholly absent.

#include <unistd.h>
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "common/random.h"
#include "rpc/server.h"
#include "common/status.h"
#include "common/vectors.h"
#include "feedloop/v1/ingest.grpc.pb.h"
#include "gtest/gtest.h"
#include "testing/status_matchers.h"
#include "testing/subprocess.h"
#include "rpc/grpc_status.h"

namespace feedloop {
namespace {

using testing::Subprocess;

constexpr uint32_t kDim = 16;
constexpr int kKills = 12;

struct Batch {
  std::vector<v1::Item> items;
};

class Writer {
 public:
  explicit Writer(std::shared_ptr<grpc::Channel> channel, uint64_t seed,
                  uint64_t* next_id)
      : stub_(v1::IngestService::NewStub(std::move(channel))),
        rng_(seed),
        next_id_(next_id) {}

  // Ingests batches until a call fails (the server was killed). Acked
  // batches go to `acked`; the failed one is left in `in_flight`.
  void Run(std::map<uint64_t, std::string>* acked, Batch* in_flight) {
    while (true) {
      v1::IngestRequest req;
      req.set_run_id("crash");
      const int n = 1 + static_cast<int>(rng_.UniformInt(200));
      in_flight->items.clear();
      for (int i = 0; i < n; ++i) {
        v1::Item* item = req.add_items();
        item->set_id((*next_id_)++);
        item->set_round(static_cast<uint32_t>(item->id() / 1000));
        item->set_creator_id(static_cast<uint32_t>(rng_.UniformInt(50)));
        item->set_title(absl::StrCat("item ", item->id()));
        std::vector<float> e(kDim);
        for (float& x : e) x = static_cast<float>(rng_.Normal());
        Normalize(std::span<float>(e));
        item->mutable_embedding()->Assign(e.begin(), e.end());
        in_flight->items.push_back(*item);
      }
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
      v1::IngestResponse resp;
      if (!stub_->Ingest(&ctx, req, &resp).ok()) return;
      for (const v1::Item& item : in_flight->items) {
        (*acked)[item.id()] = item.SerializeAsString();
      }
      in_flight->items.clear();
    }
  }

 private:
  std::unique_ptr<v1::IngestService::Stub> stub_;
  Rng rng_;
  uint64_t* next_id_;
};

class StoreCrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(::testing::TempDir(), "/store_crash_", getpid());
    std::filesystem::remove_all(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<Subprocess> StartStore(std::string* address) {
    auto child = Subprocess::Start({FEEDLOOP_BINARY, "serve", "store",
                                    "--listen=127.0.0.1:0",
                                    absl::StrCat("--data_dir=", dir_),
                                    "--threads=2"});
    EXPECT_OK(child.status());
    if (!child.ok()) return nullptr;
    auto addr = (*child)->WaitForListeningAddress();
    EXPECT_OK(addr.status());
    if (!addr.ok()) return nullptr;
    *address = *addr;
    return *std::move(child);
  }

  // Reads every stored item of the run, by scan.
  std::map<uint64_t, std::string> ReadAll(v1::IngestService::Stub* stub) {
    std::map<uint64_t, std::string> out;
    v1::ScanItemsRequest scan;
    scan.set_run_id("crash");
    grpc::ClientContext ctx;
    auto reader = stub->ScanItems(&ctx, scan);
    v1::ScanItemsResponse chunk;
    while (reader->Read(&chunk)) {
      for (const auto& item : chunk.items()) {
        out[item.id()] = item.SerializeAsString();
      }
    }
    EXPECT_OK(FromGrpcStatus(reader->Finish()));
    return out;
  }

  std::string dir_;
};

TEST_F(StoreCrashTest, NoAcknowledgedItemIsLostAndNoBatchIsHalfWritten) {
  Rng rng(2026);
  std::map<uint64_t, std::string> acked;
  uint64_t next_id = 1;
  size_t in_flight_present = 0, in_flight_absent = 0;

  for (int kill = 0; kill <= kKills; ++kill) {
    std::string address;
    std::unique_ptr<Subprocess> child = StartStore(&address);
    ASSERT_NE(child, nullptr);
    auto channel = CreateChannel(address);
    auto stub = v1::IngestService::NewStub(channel);
    if (kill == 0) {
      v1::CreateRunRequest create;
      create.mutable_run()->set_run_id("crash");
      create.mutable_run()->mutable_config()->mutable_space()->set_dim(kDim);
      v1::RunRecord run;
      grpc::ClientContext ctx;
      ASSERT_OK(FromGrpcStatus(stub->CreateRun(&ctx, create, &run)));
    }

    // What survived the previous kill.
    std::map<uint64_t, std::string> stored = ReadAll(stub.get());
    for (const auto& [id, bytes] : acked) {
      auto it = stored.find(id);
      ASSERT_NE(it, stored.end()) << "acknowledged item " << id << " lost";
      ASSERT_EQ(it->second, bytes) << "item " << id << " changed";
    }
    ASSERT_GE(stored.size(), acked.size());
    if (kill == kKills) {
      EXPECT_EQ(stored.size(), acked.size());
      break;
    }

    Batch in_flight;
    Writer writer(channel, DeriveSeed(7, kill), &next_id);
    std::thread writing([&] { writer.Run(&acked, &in_flight); });
    absl::SleepFor(absl::Milliseconds(20 + rng.UniformInt(300)));
    child->Kill(SIGKILL);
    child->Wait();
    writing.join();

    // Restart and classify the batch that was in flight: all or nothing.
    child = StartStore(&address);
    ASSERT_NE(child, nullptr);
    auto check_stub = v1::IngestService::NewStub(CreateChannel(address));
    stored = ReadAll(check_stub.get());
    size_t present = 0;
    for (const v1::Item& item : in_flight.items) {
      auto it = stored.find(item.id());
      if (it != stored.end()) {
        ++present;
        EXPECT_EQ(it->second, item.SerializeAsString());
      }
    }
    ASSERT_TRUE(present == 0 || present == in_flight.items.size())
        << "batch half-written: " << present << " of "
        << in_flight.items.size() << " items present after kill " << kill;
    if (present > 0) {
      ++in_flight_present;
      for (const v1::Item& item : in_flight.items) {
        acked[item.id()] = item.SerializeAsString();
      }
    } else {
      ++in_flight_absent;
    }
    EXPECT_EQ(stored.size(), acked.size()) << "items nobody sent appeared";
    child->Kill(SIGKILL);
    child->Wait();
  }
  EXPECT_GT(acked.size(), 0u);
  RecordProperty("acknowledged_items", static_cast<int>(acked.size()));
  std::cout << "kills: " << kKills << ", acknowledged items: " << acked.size()
            << ", in-flight batches present/absent after kill: "
            << in_flight_present << "/" << in_flight_absent << "\n";
}

}  // namespace
}  // namespace feedloop
