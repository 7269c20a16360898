// Glue between gRPC's callback API and feedloop's worker pools. Reactor
// threads must never block, so each handler hands its work to a sized pool;
// a full pool (in requests or in their bytes) answers RESOURCE_EXHAUSTED at
// once instead of queueing. Work that runs long takes the call's
// Cancellation and checks it between chunks.
//
//   grpc::ServerUnaryReactor* Ingest(grpc::CallbackServerContext* ctx,
//                                    const IngestRequest* req,
//                                    IngestResponse* resp) override {
//     return ServeUnary(ctx, pool_, *req, [=] { return DoIngest(*req, resp); });
//   }
//   ... ServeUnary(ctx, pool_, *req, [=](const Cancellation& cancel) {
//         return DoLongWork(*req, cancel, resp);
//       });

#ifndef FEEDLOOP_RPC_REACTORS_H_
#define FEEDLOOP_RPC_REACTORS_H_

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>
#include <type_traits>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "common/cancellation.h"
#include "common/status.h"
#include "common/thread_pool.h"
#include "google/protobuf/message.h"
#include "rpc/grpc_status.h"
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

// The call's deadline and cancellation, for work to check between chunks.
// Valid until the call is finished.
inline Cancellation CancellationOf(grpc::CallbackServerContext* ctx) {
  const absl::Time deadline =
      ctx->deadline() == std::chrono::system_clock::time_point::max()
          ? absl::InfiniteFuture()
          : absl::FromChrono(ctx->deadline());
  return Cancellation(deadline, [ctx] { return ctx->IsCancelled(); });
}

inline grpc::Status OverloadedStatus() {
  return grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                      "server overloaded: work queue full (in requests or in their "
                      "bytes), retry later");
}

// Runs `work` on `pool` and finishes the call with its status. `work`
// returns absl::Status and takes either nothing or the call's
// Cancellation. The call weighs `request`'s size in the pool's byte bound
// until it is done.
template <typename Work>
grpc::ServerUnaryReactor* ServeUnary(grpc::CallbackServerContext* ctx,
                                     ThreadPool* pool,
                                     const google::protobuf::Message& request,
                                     Work work) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  const bool queued = pool->TrySchedule(
      [ctx, reactor, work = std::move(work)]() mutable {
        absl::Status alive = CheckCallAlive(ctx);
        if (!alive.ok()) {
          reactor->Finish(ToGrpcStatus(alive));
          return;
        }
        if constexpr (std::is_invocable_v<Work&, const Cancellation&>) {
          reactor->Finish(ToGrpcStatus(work(CancellationOf(ctx))));
        } else {
          reactor->Finish(ToGrpcStatus(work()));
        }
      },
      request.ByteSizeLong());
  if (!queued) reactor->Finish(OverloadedStatus());
  return reactor;
}

// A server-streaming reactor that asks `fill` for one response at a time,
// on `pool`, and writes it; `fill` returns whether more responses follow,
// and gets the call's Cancellation for work that runs long. Made with
// `new`; deletes itself when the call is done.
//
//   return new ChunkedWriteReactor<ScanItemsResponse>(ctx, pool_,
//       [cursor = ...](ScanItemsResponse* r, const Cancellation&)
//           -> absl::StatusOr<bool> {...});
template <typename Response>
class ChunkedWriteReactor final : public grpc::ServerWriteReactor<Response> {
 public:
  using Fill = absl::AnyInvocable<absl::StatusOr<bool>(Response*, const Cancellation&)>;

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
      absl::StatusOr<bool> more = fill_(&response_, CancellationOf(ctx_));
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

// A server-streaming reactor whose producer runs on a thread of its own, for
// streams that wait (watching a run): waiting never happens on a reactor
// thread, and the number of such threads is bounded by the caller
// (`active`, decremented when the stream is done).
//
// `body(send, cancelled)` returns the stream's final status; `send(msg)`
// blocks until the message is written and returns false once the client is
// gone; `cancelled()` says whether it is. A waiting body should wake up now
// and then (say every 200 ms) to check `cancelled()`.
template <typename Response>
class ThreadedWriteReactor final : public grpc::ServerWriteReactor<Response> {
 public:
  using Send = std::function<bool(const Response&)>;
  using Cancelled = std::function<bool()>;
  using Body = std::function<grpc::Status(const Send&, const Cancelled&)>;

  ThreadedWriteReactor(Body body, std::atomic<int>* active)
      : body_(std::move(body)), active_(active) {
    thread_ = std::thread([this] { Run(); });
  }

  void OnWriteDone(bool ok) override {
    absl::MutexLock lock(&mu_);
    write_pending_ = false;
    write_ok_ = ok;
  }
  void OnCancel() override {
    absl::MutexLock lock(&mu_);
    cancelled_ = true;
  }
  void OnDone() override {
    thread_.join();
    active_->fetch_sub(1);
    delete this;
  }

 private:
  void Run() {
    const Send send = [this](const Response& message) {
      absl::MutexLock lock(&mu_);
      if (cancelled_) return false;
      message_ = message;
      write_pending_ = true;
      this->StartWrite(&message_);
      mu_.Await(absl::Condition(
          +[](ThreadedWriteReactor* r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(r->mu_) {
            return !r->write_pending_;
          },
          this));
      return write_ok_ && !cancelled_;
    };
    const Cancelled cancelled = [this] {
      absl::MutexLock lock(&mu_);
      return cancelled_;
    };
    this->Finish(body_(send, cancelled));
  }

  const Body body_;
  std::atomic<int>* const active_;
  std::thread thread_;
  absl::Mutex mu_;
  Response message_ ABSL_GUARDED_BY(mu_);
  bool write_pending_ ABSL_GUARDED_BY(mu_) = false;
  bool write_ok_ ABSL_GUARDED_BY(mu_) = true;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
};

// Finishes a stream at once with `status` (refused before it started).
template <typename Response>
class RefusedWriteReactor final : public grpc::ServerWriteReactor<Response> {
 public:
  explicit RefusedWriteReactor(grpc::Status status) {
    this->Finish(std::move(status));
  }
  void OnDone() override { delete this; }
};

}  // namespace feedloop

#endif  // FEEDLOOP_RPC_REACTORS_H_
