#include "mmfuse/serve/malloc_tuning.h"

#include "mmfuse/core/allocator.h"

#include <algorithm>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace mmfuse::serve {

bool tune_allocator_for_serving(int arenas) {
  if (!allocator_tuning_allowed()) return false;
#if defined(__GLIBC__)
  return mallopt(M_ARENA_MAX, std::max(1, arenas)) == 1 &&
         mallopt(M_TRIM_THRESHOLD, kServeTrimThresholdBytes) == 1;
#else
  return false;
#endif
}

MemoryReleaser::MemoryReleaser(std::chrono::milliseconds interval) {
#if defined(__GLIBC__)
  if (interval.count() > 0) thread_ = std::thread([this, interval] { loop(interval); });
#else
  (void)interval;
#endif
}

MemoryReleaser::~MemoryReleaser() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

int64_t MemoryReleaser::releases() const {
  std::lock_guard<std::mutex> lock(mu_);
  return releases_;
}

void MemoryReleaser::loop(std::chrono::milliseconds interval) {
  std::unique_lock<std::mutex> lock(mu_);
  while (!cv_.wait_for(lock, interval, [this] { return stop_; })) {
    lock.unlock();
#if defined(__GLIBC__)
    malloc_trim(0);
#endif
    lock.lock();
    ++releases_;
  }
}

}  // namespace mmfuse::serve
