// The store's gRPC services over an ItemStore: IngestService (writes and
// item scans) and DiversityService (run records and metric series).
//
//   ItemStore* store = ...;  ThreadPool pool(4, 256);
//   IngestServiceImpl ingest(store, &pool);
//   DiversityServiceImpl diversity(store, &pool);
//   GrpcServer::Start(options, {&ingest, &diversity});
//
// Every handler runs on `pool`, never on a gRPC reactor thread. Both classes
// borrow the store and the pool, which must outlive them. Thread-safe.

#ifndef FEEDLOOP_STORE_STORE_SERVICE_H_
#define FEEDLOOP_STORE_STORE_SERVICE_H_

#include <atomic>

#include "common/thread_pool.h"
#include "feedloop/v1/diversity.grpc.pb.h"
#include "feedloop/v1/ingest.grpc.pb.h"
#include "store/item_store.h"

namespace feedloop::store {

class IngestServiceImpl final : public v1::IngestService::CallbackService {
 public:
  IngestServiceImpl(ItemStore* store, ThreadPool* pool)
      : store_(store), pool_(pool) {}

  grpc::ServerUnaryReactor* CreateRun(grpc::CallbackServerContext* ctx,
                                      const v1::CreateRunRequest* request,
                                      v1::RunRecord* response) override;
  grpc::ServerUnaryReactor* UpdateRun(grpc::CallbackServerContext* ctx,
                                      const v1::UpdateRunRequest* request,
                                      v1::RunRecord* response) override;
  grpc::ServerUnaryReactor* Ingest(grpc::CallbackServerContext* ctx,
                                   const v1::IngestRequest* request,
                                   v1::IngestResponse* response) override;
  grpc::ServerUnaryReactor* GetItems(grpc::CallbackServerContext* ctx,
                                     const v1::GetItemsRequest* request,
                                     v1::GetItemsResponse* response) override;
  grpc::ServerWriteReactor<v1::ScanItemsResponse>* ScanItems(
      grpc::CallbackServerContext* ctx,
      const v1::ScanItemsRequest* request) override;
  grpc::ServerUnaryReactor* LogInteractions(
      grpc::CallbackServerContext* ctx,
      const v1::LogInteractionsRequest* request,
      v1::LogInteractionsResponse* response) override;
  grpc::ServerWriteReactor<v1::ScanInteractionsResponse>* ScanInteractions(
      grpc::CallbackServerContext* ctx,
      const v1::ScanInteractionsRequest* request) override;
  grpc::ServerUnaryReactor* WriteMetrics(
      grpc::CallbackServerContext* ctx, const v1::WriteMetricsRequest* request,
      v1::WriteMetricsResponse* response) override;
  grpc::ServerUnaryReactor* ClaimRun(grpc::CallbackServerContext* ctx,
                                     const v1::ClaimRunRequest* request,
                                     v1::RunRecord* response) override;
  grpc::ServerUnaryReactor* GetCheckpoint(
      grpc::CallbackServerContext* ctx, const v1::GetCheckpointRequest* request,
      v1::RoundCheckpoint* response) override;

 private:
  ItemStore* const store_;
  ThreadPool* const pool_;
};

class DiversityServiceImpl final : public v1::DiversityService::CallbackService {
 public:
  DiversityServiceImpl(ItemStore* store, ThreadPool* pool)
      : store_(store), pool_(pool) {}

  grpc::ServerUnaryReactor* ListRuns(grpc::CallbackServerContext* ctx,
                                     const v1::ListRunsRequest* request,
                                     v1::ListRunsResponse* response) override;
  grpc::ServerUnaryReactor* GetRun(grpc::CallbackServerContext* ctx,
                                   const v1::GetRunRequest* request,
                                   v1::RunRecord* response) override;
  grpc::ServerUnaryReactor* GetSeries(grpc::CallbackServerContext* ctx,
                                      const v1::GetSeriesRequest* request,
                                      v1::GetSeriesResponse* response) override;
  grpc::ServerUnaryReactor* CompareRuns(
      grpc::CallbackServerContext* ctx, const v1::CompareRunsRequest* request,
      v1::CompareRunsResponse* response) override;
  grpc::ServerWriteReactor<v1::RoundMetrics>* WatchRun(
      grpc::CallbackServerContext* ctx,
      const v1::WatchRunRequest* request) override;
  grpc::ServerUnaryReactor* Evaluate(grpc::CallbackServerContext* ctx,
                                     const v1::EvaluateRequest* request,
                                     v1::EvaluateResponse* response) override;

  // In-process forms, for the CLI and tests.
  absl::StatusOr<v1::CompareRunsResponse> Compare(
      const v1::CompareRunsRequest& request) const;
  absl::StatusOr<v1::EvaluateResponse> Evaluate(
      const v1::EvaluateRequest& request) const;

 private:
  ItemStore* const store_;
  ThreadPool* const pool_;
  // Most WatchRun streams at once; each holds a waiting thread.
  static constexpr int kMaxWatchers = 64;
  std::atomic<int> watchers_{0};
};

}  // namespace feedloop::store

#endif  // FEEDLOOP_STORE_STORE_SERVICE_H_
