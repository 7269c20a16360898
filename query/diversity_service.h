// DiversityService: RunQueries (query/run_queries.h) over gRPC, each
// handler on `pool`, never on a reactor thread; WatchRun on a thread of its
// own, at most kMaxWatchers at once.
//
//   DiversityServiceImpl diversity(store, &pool);
//   GrpcServer::Start(options, {&ingest, &diversity});
//
// Borrows the store and the pool, which must outlive it. Thread-safe.

#ifndef FEEDLOOP_QUERY_DIVERSITY_SERVICE_H_
#define FEEDLOOP_QUERY_DIVERSITY_SERVICE_H_

#include <atomic>

#include "feedloop/v1/diversity.grpc.pb.h"
#include "query/run_queries.h"

namespace feedloop {

class ThreadPool;

namespace query {

class DiversityServiceImpl final : public v1::DiversityService::CallbackService {
 public:
  DiversityServiceImpl(store::ItemStore* store, ThreadPool* pool);

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

  const RunQueries& queries() const { return queries_; }

 private:
  // Most WatchRun streams at once; each holds a waiting thread.
  static constexpr int kMaxWatchers = 64;

  const RunQueries queries_;
  ThreadPool* const pool_;
  std::atomic<int> watchers_{0};
};

}  // namespace query
}  // namespace feedloop

#endif  // FEEDLOOP_QUERY_DIVERSITY_SERVICE_H_
