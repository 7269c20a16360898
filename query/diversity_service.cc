#include "query/diversity_service.h"

#include "common/status.h"
#include "common/thread_pool.h"
#include "rpc/grpc_status.h"
#include "rpc/reactors.h"
#include "store/item_store.h"

namespace feedloop::query {

DiversityServiceImpl::DiversityServiceImpl(store::ItemStore* store,
                                           ThreadPool* pool)
    : queries_(store), pool_(pool) {}

grpc::ServerUnaryReactor* DiversityServiceImpl::ListRuns(
    grpc::CallbackServerContext* ctx, const v1::ListRunsRequest* request,
    v1::ListRunsResponse* response) {
  return ServeUnary(ctx, pool_, *request, [this, request, response]() -> absl::Status {
    FEEDLOOP_ASSIGN_OR_RETURN(*response, queries_.ListRuns(*request));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* DiversityServiceImpl::GetRun(
    grpc::CallbackServerContext* ctx, const v1::GetRunRequest* request,
    v1::RunRecord* response) {
  return ServeUnary(ctx, pool_, *request, [this, request, response]() -> absl::Status {
    FEEDLOOP_ASSIGN_OR_RETURN(*response, queries_.GetRun(*request));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* DiversityServiceImpl::GetSeries(
    grpc::CallbackServerContext* ctx, const v1::GetSeriesRequest* request,
    v1::GetSeriesResponse* response) {
  return ServeUnary(ctx, pool_, *request, [this, request, response]() -> absl::Status {
    FEEDLOOP_ASSIGN_OR_RETURN(*response, queries_.GetSeries(*request));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* DiversityServiceImpl::CompareRuns(
    grpc::CallbackServerContext* ctx, const v1::CompareRunsRequest* request,
    v1::CompareRunsResponse* response) {
  return ServeUnary(ctx, pool_, *request, [this, request, response]() -> absl::Status {
    FEEDLOOP_ASSIGN_OR_RETURN(*response, queries_.Compare(*request));
    return absl::OkStatus();
  });
}

grpc::ServerUnaryReactor* DiversityServiceImpl::Evaluate(
    grpc::CallbackServerContext* ctx, const v1::EvaluateRequest* request,
    v1::EvaluateResponse* response) {
  return ServeUnary(ctx, pool_, *request,
                    [this, request, response](const Cancellation& cancel) -> absl::Status {
    FEEDLOOP_ASSIGN_OR_RETURN(*response, queries_.Evaluate(*request, cancel));
    return absl::OkStatus();
  });
}

grpc::ServerWriteReactor<v1::RoundMetrics>* DiversityServiceImpl::WatchRun(
    grpc::CallbackServerContext* ctx, const v1::WatchRunRequest* request) {
  // An unknown run is refused before a thread is taken for it.
  v1::GetRunRequest get;
  get.set_run_id(request->run_id());
  if (absl::StatusOr<v1::RunRecord> run = queries_.GetRun(get); !run.ok()) {
    return new RefusedWriteReactor<v1::RoundMetrics>(ToGrpcStatus(run.status()));
  }
  if (watchers_.fetch_add(1) >= kMaxWatchers) {
    watchers_.fetch_sub(1);
    return new RefusedWriteReactor<v1::RoundMetrics>(OverloadedStatus());
  }
  return new ThreadedWriteReactor<v1::RoundMetrics>(
      [this, req = *request](const auto& send, const auto& cancelled) {
        return ToGrpcStatus(queries_.Watch(req, send, cancelled));
      },
      &watchers_);
}

}  // namespace feedloop::query
