#include "common/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <memory>

namespace feedloop {

int DefaultThreadCount() {
  return std::max(1u, std::thread::hardware_concurrency());
}

ThreadPool::ThreadPool(int num_threads, size_t max_queue, size_t max_held_bytes)
    : max_queue_(max_queue), max_held_bytes_(max_held_bytes) {
  num_threads = std::max(1, num_threads);
  threads_.reserve(num_threads);
  for (int i = 0; i < num_threads; ++i) {
    threads_.emplace_back([this] { WorkerLoop(); });
  }
}

ThreadPool::~ThreadPool() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& t : threads_) t.join();
}

bool ThreadPool::TrySchedule(absl::AnyInvocable<void() &&> task, size_t bytes) {
  absl::MutexLock lock(&mu_);
  if (stopping_) return false;
  if (max_queue_ != 0 && queue_.size() >= max_queue_) return false;
  if (max_held_bytes_ != 0 && held_bytes_ > 0 && held_bytes_ + bytes > max_held_bytes_) {
    return false;
  }
  held_bytes_ += bytes;
  if (bytes == 0) {
    queue_.push_back(std::move(task));
  } else {
    queue_.push_back([this, bytes, task = std::move(task)]() mutable {
      std::move(task)();
      absl::MutexLock lock(&mu_);
      held_bytes_ -= bytes;
    });
  }
  return true;
}

size_t ThreadPool::held_bytes() const {
  absl::MutexLock lock(&mu_);
  return held_bytes_;
}

size_t ThreadPool::queued() const {
  absl::MutexLock lock(&mu_);
  return queue_.size();
}

void ThreadPool::WorkerLoop() {
  while (true) {
    absl::AnyInvocable<void() &&> task;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(
          +[](ThreadPool* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) {
            return p->stopping_ || !p->queue_.empty();
          },
          this));
      if (queue_.empty()) return;  // stopping, and drained
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    std::move(task)();
  }
}

namespace {

// Shared by the caller and the helpers of one ParallelFor. Helpers may start
// after the caller has returned, so it lives in a shared_ptr.
struct ParallelForState {
  explicit ParallelForState(size_t n, const std::function<void(size_t)>* f)
      : n(n), fn(f) {}
  const size_t n;
  const std::function<void(size_t)>* fn;  // valid while remaining > 0
  std::atomic<size_t> next{0};
  absl::Mutex mu;
  size_t remaining ABSL_GUARDED_BY(mu) = 0;

  // Claims and runs indices until none are left.
  void Drain() {
    size_t done = 0;
    while (true) {
      const size_t i = next.fetch_add(1, std::memory_order_relaxed);
      if (i >= n) break;
      (*fn)(i);
      ++done;
    }
    if (done > 0) {
      absl::MutexLock lock(&mu);
      remaining -= done;
    }
  }
};

}  // namespace

void ThreadPool::ParallelFor(size_t n, const std::function<void(size_t)>& fn) {
  if (n == 0) return;
  if (n == 1) {
    fn(0);
    return;
  }
  auto state = std::make_shared<ParallelForState>(n, &fn);
  {
    absl::MutexLock lock(&state->mu);
    state->remaining = n;
  }
  const size_t helpers = std::min<size_t>(threads_.size(), n - 1);
  for (size_t h = 0; h < helpers; ++h) {
    absl::MutexLock lock(&mu_);
    if (stopping_) break;
    // Helpers bypass max_queue_: the caller makes progress regardless, so
    // they cannot pile up beyond the pool's size per ParallelFor.
    queue_.push_back([state] { state->Drain(); });
  }
  state->Drain();
  absl::MutexLock lock(&state->mu);
  state->mu.Await(absl::Condition(
      +[](ParallelForState* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu) {
        return s->remaining == 0;
      },
      state.get()));
}

}  // namespace feedloop
