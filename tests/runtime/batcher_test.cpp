// The batcher's waiting policy and its per-batch observer, on a batch function that needs no
// model (it returns the batch size to every request).
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "mmfuse/runtime/batcher.h"

namespace mmfuse::runtime {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

std::vector<int> sizes(const std::vector<Prepared>& b) {
  return std::vector<int>(b.size(), static_cast<int>(b.size()));
}

BatcherOptions delayed(std::chrono::milliseconds delay, bool expected_only) {
  BatcherOptions o;
  o.max_batch = 8;
  o.max_delay = delay;
  o.wait_for_expected_only = expected_only;
  return o;
}

TEST(Batcher, ALoneRequestWaitsTheFullDelayByDefault) {
  Batcher<int> batcher(delayed(std::chrono::milliseconds(1000), false), sizes);
  const auto t0 = Clock::now();
  EXPECT_EQ(batcher.submit(Prepared{}).get(), 1);
  EXPECT_GE(seconds_since(t0), 0.99);
}

// "At once" below means long before a delay of kLong: no bound on the machine's speed.
constexpr auto kLong = std::chrono::milliseconds(120000);
constexpr auto kPatience = std::chrono::seconds(60);

TEST(Batcher, ALoneRequestRunsAtOnceWhenNothingIsAnnounced) {
  Batcher<int> batcher(delayed(kLong, true), sizes);
  auto f = batcher.submit(Prepared{});
  ASSERT_EQ(f.wait_for(kPatience), std::future_status::ready);
  EXPECT_EQ(f.get(), 1);
}

TEST(Batcher, AnnouncedRequestsAreWaitedForAndShareTheBatch) {
  Batcher<int> batcher(delayed(kLong, true), sizes);
  batcher.expect();
  batcher.expect();
  const auto t0 = Clock::now();
  auto first = batcher.submit(Prepared{}, /*expected=*/true);
  std::thread late([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    EXPECT_EQ(batcher.submit(Prepared{}, /*expected=*/true).get(), 2);
  });
  ASSERT_EQ(first.wait_for(kPatience), std::future_status::ready);  // not the 120 s delay
  EXPECT_EQ(first.get(), 2);  // the first waited for the announced second one
  EXPECT_GE(seconds_since(t0), 0.19);
  late.join();
  EXPECT_EQ(batcher.stats().batches, 1);
}

TEST(Batcher, AWithdrawnAnnouncementEndsTheWait) {
  Batcher<int> batcher(delayed(kLong, true), sizes);
  batcher.expect();
  batcher.expect();
  auto first = batcher.submit(Prepared{}, true);
  batcher.unexpect();  // its preprocessing failed: it will not come
  ASSERT_EQ(first.wait_for(kPatience), std::future_status::ready);
  EXPECT_EQ(first.get(), 1);
}

TEST(Batcher, AQueueFullSubmitWithdrawsItsAnnouncement) {
  BatcherOptions o = delayed(kLong, true);
  o.max_queue = 1;
  o.max_batch = 2;
  std::promise<void> release;
  auto gate = release.get_future().share();
  Batcher<int> batcher(o, [&](const std::vector<Prepared>& b) {
    gate.wait();
    return sizes(b);
  });
  auto blocker = batcher.submit(Prepared{});  // runs at once and blocks the batcher thread
  while (batcher.queued() > 0) std::this_thread::yield();
  batcher.expect();
  batcher.expect();
  auto queued = batcher.submit(Prepared{}, true);
  EXPECT_THROW(batcher.submit(Prepared{}, true), QueueFull);
  release.set_value();
  EXPECT_EQ(blocker.get(), 1);
  // Both announcements are withdrawn (one submitted, one refused): no wait for a third.
  ASSERT_EQ(queued.wait_for(kPatience), std::future_status::ready);
  EXPECT_EQ(queued.get(), 1);
}

TEST(Batcher, TheObserverSeesEachBatchSizeAndQueueTime) {
  std::vector<BatchInfo> seen;
  Batcher<int> batcher(delayed(std::chrono::milliseconds(300), false), sizes,
                       [&](const BatchInfo& info) { seen.push_back(info); });
  auto a = batcher.submit(Prepared{});
  auto b = batcher.submit(Prepared{});
  EXPECT_EQ(a.get(), 2);
  EXPECT_EQ(b.get(), 2);
  ASSERT_EQ(seen.size(), 1u);
  EXPECT_EQ(seen[0].size, 2);
  ASSERT_EQ(seen[0].queue_seconds.size(), 2u);
  EXPECT_GE(seen[0].queue_seconds[0], 0.29);  // the first waited the whole delay
  EXPECT_GE(seen[0].queue_seconds[0], seen[0].queue_seconds[1]);
}

}  // namespace
}  // namespace mmfuse::runtime
