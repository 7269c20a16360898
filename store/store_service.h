// IngestService over an ItemStore: the writes (runs, items, interactions,
// a round's commit) and the scans the services read back. Its queries are
// query/'s DiversityService.
//
//   ItemStore* store = ...;  ThreadPool pool(4, 256);
//   IngestServiceImpl ingest(store, &pool);
//   GrpcServer::Start(options, {&ingest});
//
// Every handler runs on `pool`, never on a gRPC reactor thread. It borrows
// the store and the pool, which must outlive it. Thread-safe.

#ifndef FEEDLOOP_STORE_STORE_SERVICE_H_
#define FEEDLOOP_STORE_STORE_SERVICE_H_

#include "common/memory_budget.h"
#include "common/thread_pool.h"
#include "feedloop/v1/ingest.grpc.pb.h"
#include "store/item_store.h"

namespace feedloop::store {

class IngestServiceImpl final : public v1::IngestService::CallbackService {
 public:
  // `memory` (may be null: no check) is the budget a run's config is
  // checked against at CreateRun, as StartRun and OpenRun check theirs.
  IngestServiceImpl(ItemStore* store, ThreadPool* pool, MemoryBudget* memory = nullptr)
      : store_(store), pool_(pool), memory_(memory) {}

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
  MemoryBudget* const memory_;
};

}  // namespace feedloop::store

#endif  // FEEDLOOP_STORE_STORE_SERVICE_H_
