#include "common/thread_pool.h"

#include <atomic>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace feedloop {
namespace {

TEST(ThreadPool, ParallelForVisitsEveryIndexOnce) {
  ThreadPool pool(3, 0);
  std::vector<std::atomic<int>> hits(1000);
  pool.ParallelFor(hits.size(), [&](size_t i) { hits[i].fetch_add(1); });
  for (auto& h : hits) EXPECT_EQ(h.load(), 1);
}

TEST(ThreadPool, ParallelForFromInsideThePoolDoesNotDeadlock) {
  ThreadPool pool(2, 0);
  std::atomic<int> total{0};
  pool.ParallelFor(4, [&](size_t) {
    pool.ParallelFor(10, [&](size_t) { total.fetch_add(1); });
  });
  EXPECT_EQ(total.load(), 40);
}

TEST(ThreadPool, TryScheduleRefusesWhenQueueIsFull) {
  ThreadPool pool(1, 2);
  absl::Notification release;
  absl::Notification started;
  ASSERT_TRUE(pool.TrySchedule([&] {
    started.Notify();
    release.WaitForNotification();
  }));
  started.WaitForNotification();
  EXPECT_TRUE(pool.TrySchedule([] {}));
  EXPECT_TRUE(pool.TrySchedule([] {}));
  EXPECT_FALSE(pool.TrySchedule([] {}));
  release.Notify();
}

TEST(ThreadPool, TryScheduleRefusesPastTheByteBound) {
  // 32 requests of 16 MiB against a 256 MiB bound: the first 16 are held
  // (one running, fifteen waiting), the rest refused, and once they have
  // run the bytes are free again.
  constexpr size_t kMiB = size_t{1} << 20;
  ThreadPool pool(1, /*max_queue=*/1024, /*max_held_bytes=*/256 * kMiB);
  absl::Notification release;
  int accepted = 0;
  for (int i = 0; i < 32; ++i) {
    accepted += pool.TrySchedule([&] { release.WaitForNotification(); }, 16 * kMiB);
  }
  EXPECT_EQ(accepted, 16);
  EXPECT_EQ(pool.held_bytes(), 256 * kMiB);
  EXPECT_TRUE(pool.TrySchedule([] {}));  // weightless work still fits
  release.Notify();
  while (pool.held_bytes() != 0) absl::SleepFor(absl::Milliseconds(1));
  EXPECT_TRUE(pool.TrySchedule([] {}, 16 * kMiB));
}

TEST(ThreadPool, ATaskHeavierThanTheBoundRunsWhenNothingElseIsHeld) {
  ThreadPool pool(1, 8, /*max_held_bytes=*/100);
  absl::Notification ran;
  ASSERT_TRUE(pool.TrySchedule([&] { ran.Notify(); }, 1000));
  ran.WaitForNotification();
}

TEST(ThreadPool, DestructorRunsQueuedTasks) {
  std::atomic<int> ran{0};
  {
    ThreadPool pool(1, 0);
    for (int i = 0; i < 50; ++i) ASSERT_TRUE(pool.TrySchedule([&] { ++ran; }));
  }
  EXPECT_EQ(ran.load(), 50);
}

}  // namespace
}  // namespace feedloop
