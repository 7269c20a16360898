// Glue between gRPC's callback API and feedloop's worker pools. Reactor
// threads must never block, so each handler hands its work to a sized pool;
// a full pool answers RESOURCE_EXHAUSTED at once instead of queueing.
//
//   grpc::ServerUnaryReactor* Ingest(grpc::CallbackServerContext* ctx,
//                                    const IngestRequest* req,
//                                    IngestResponse* resp) override {
//     return ServeUnary(ctx, pool_, [=] { return DoIngest(*req, resp); });
//   }

#ifndef FEEDLOOP_COMMON_REACTORS_H_
#define FEEDLOOP_COMMON_REACTORS_H_

#include <chrono>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/status.h"
#include "common/thread_pool.h"
#include "grpcpp/grpcpp.h"

namespace feedloop {

// OK, or CANCELLED / DEADLINE_EXCEEDED when the call has ended already:
// checked before starting work that the caller can no longer receive.
inline absl::Status CheckCallAlive(grpc::CallbackServerContext* ctx) {
  if (ctx->IsCancelled()) return absl::CancelledError("call cancelled");
  if (ctx->deadline() < std::chrono::system_clock::now()) {
    return absl::DeadlineExceededError("deadline passed before work started");
  }
  return absl::OkStatus();
}

inline grpc::Status OverloadedStatus() {
  return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                      "server overloaded: work queue full, retry later");
}

// Runs `work` (returning absl::Status) on `pool` and finishes the call with
// its status.
template <typename Work>
grpc::ServerUnaryReactor* ServeUnary(grpc::CallbackServerContext* ctx,
                                     ThreadPool* pool, Work work) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  const bool queued =
      pool->TrySchedule([ctx, reactor, work = std::move(work)]() mutable {
        absl::Status alive = CheckCallAlive(ctx);
        reactor->Finish(ToGrpcStatus(alive.ok() ? work() : alive));
      });
  if (!queued) reactor->Finish(OverloadedStatus());
  return reactor;
}

// A server-streaming reactor that asks `fill` for one response at a time,
// on `pool`, and writes it; `fill` returns whether more responses follow.
// Made with `new`; deletes itself when the call is done.
//
//   return new ChunkedWriteReactor<ScanItemsResponse>(ctx, pool_,
//       [cursor = ...](ScanItemsResponse* r) -> absl::StatusOr<bool> {...});
template <typename Response>
class ChunkedWriteReactor final : public grpc::ServerWriteReactor<Response> {
 public:
  using Fill = absl::AnyInvocable<absl::StatusOr<bool>(Response*)>;

  ChunkedWriteReactor(grpc::CallbackServerContext* ctx, ThreadPool* pool,
                      Fill fill)
      : ctx_(ctx), pool_(pool), fill_(std::move(fill)) {
    FillNext();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      this->Finish(grpc::Status(grpc::StatusCode::CANCELLED,
                                "stream closed by the client"));
    } else if (!more_) {
      this->Finish(grpc::Status::OK);
    } else {
      FillNext();
    }
  }

  void OnDone() override { delete this; }

 private:
  void FillNext() {
    const bool queued = pool_->TrySchedule([this] {
      absl::Status alive = CheckCallAlive(ctx_);
      if (!alive.ok()) {
        this->Finish(ToGrpcStatus(alive));
        return;
      }
      response_.Clear();
      absl::StatusOr<bool> more = fill_(&response_);
      if (!more.ok()) {
        this->Finish(ToGrpcStatus(more.status()));
        return;
      }
      more_ = *more;
      if (!more_ && response_.ByteSizeLong() == 0) {
        this->Finish(grpc::Status::OK);
        return;
      }
      this->StartWrite(&response_);
    });
    if (!queued) this->Finish(OverloadedStatus());
  }

  grpc::CallbackServerContext* const ctx_;
  ThreadPool* const pool_;
  Fill fill_;
  Response response_;
  bool more_ = true;
};

}  // namespace feedloop

#endif  // FEEDLOOP_COMMON_REACTORS_H_
