// A fixed-size pool of worker threads with a queue bounded in count and in
// bytes.
//
// gRPC reactor threads must never block, so services hand their work to a
// pool sized by the operator; when the queue is full, or the requests it
// holds weigh more than its byte bound, TrySchedule fails and the caller
// answers RESOURCE_EXHAUSTED instead of holding memory without bound.
//
//   ThreadPool pool(4, /*max_queue=*/256, /*max_held_bytes=*/256 << 20);
//   if (!pool.TrySchedule([&] { Work(); }, request.ByteSizeLong())) {
//     return Overloaded();
//   }
//   pool.ParallelFor(n, [&](size_t i) { out[i] = F(in[i]); });
//
// Thread-safe. The destructor runs the tasks already queued, then joins.

#ifndef FEEDLOOP_COMMON_THREAD_POOL_H_
#define FEEDLOOP_COMMON_THREAD_POOL_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"

namespace feedloop {

class ThreadPool {
 public:
  // num_threads >= 1. max_queue: tasks that may wait for a thread; 0 means
  // no bound (for internal fan-out, never for request handling).
  // max_held_bytes: the most the tasks queued or running may weigh (the
  // `bytes` they were scheduled with, typically their request's size); 0
  // means no bound. A task heavier than the bound alone is still taken
  // when nothing else is held, so every request within the message limit
  // can be served.
  ThreadPool(int num_threads, size_t max_queue, size_t max_held_bytes = 0);
  ~ThreadPool();

  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Queues `task`, weighing `bytes` until it has run; false (and `task`
  // dropped) when the queue is full, the bytes held would pass the bound,
  // or the pool is shutting down.
  bool TrySchedule(absl::AnyInvocable<void() &&> task, size_t bytes = 0);

  // Runs fn(i) for every i in [0, n), on the pool's threads and on the
  // calling thread, and returns when all are done. Safe to call from a pool
  // thread: the caller works through the indices itself if no worker is
  // free. Which thread runs which index is unspecified, so fn must write
  // only to per-index outputs when results must be deterministic.
  void ParallelFor(size_t n, const std::function<void(size_t)>& fn);

  int num_threads() const { return static_cast<int>(threads_.size()); }
  // Tasks queued and not yet started.
  size_t queued() const;
  // The bytes of the tasks queued or running.
  size_t held_bytes() const;

 private:
  void WorkerLoop();

  // Constant after construction.
  const size_t max_queue_;
  const size_t max_held_bytes_;
  std::vector<std::thread> threads_;

  mutable absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void() &&>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  size_t held_bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

// Threads to use when a config says 0 ("one per core").
int DefaultThreadCount();

}  // namespace feedloop

#endif  // FEEDLOOP_COMMON_THREAD_POOL_H_
