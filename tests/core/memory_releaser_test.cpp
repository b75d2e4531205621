// MemoryReleaser (core/allocator.h): trims on its interval, stops at once when
// destroyed even with a long interval, and starts nothing with an interval of zero.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "mmfuse/core/allocator.h"

namespace mmfuse {
namespace {

using namespace std::chrono_literals;

#if defined(__GLIBC__)
TEST(MemoryReleaser, TrimsEveryIntervalUntilDestroyed) {
  MemoryReleaser releaser(10ms);
  ASSERT_TRUE(releaser.active());
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (releaser.releases() < 3 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_GE(releaser.releases(), 3);
}

TEST(MemoryReleaser, StopsAtOnceWithALongInterval) {
  const auto t0 = std::chrono::steady_clock::now();
  {
    MemoryReleaser releaser(std::chrono::hours(1));
    EXPECT_TRUE(releaser.active());
    std::this_thread::sleep_for(20ms);
    EXPECT_EQ(releaser.releases(), 0);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);  // not an hour
}
#endif

TEST(MemoryReleaser, ZeroIntervalStartsNothing) {
  MemoryReleaser releaser(0ms);
  EXPECT_FALSE(releaser.active());
  std::this_thread::sleep_for(20ms);
  EXPECT_EQ(releaser.releases(), 0);
}

}  // namespace
}  // namespace mmfuse
