#include "mmfuse/core/allocator.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace mmfuse {

bool allocator_tuning_allowed() {
  const char* off = std::getenv("MMFUSE_DEFAULT_MALLOC");
  return glibc_malloc() && !(off && std::strcmp(off, "1") == 0);
}

bool tune_allocator_for_training() {
  if (!allocator_tuning_allowed()) return false;
#if defined(__GLIBC__)
  constexpr int kMmapThreshold = 32 * 1024 * 1024;  // glibc's maximum on 64-bit
  // no mmap()ed blocks (see allocator.h); the threshold still matters where mmap() is the
  // fallback
  return mallopt(M_MMAP_THRESHOLD, kMmapThreshold) == 1 && mallopt(M_MMAP_MAX, 0) == 1 &&
         mallopt(M_TRIM_THRESHOLD, kTrainingTrimThresholdBytes) == 1;
#else
  return false;
#endif
}

bool tune_allocator_for_inference(int arenas, int trim_threshold_bytes) {
  if (!allocator_tuning_allowed()) return false;
#if defined(__GLIBC__)
  return mallopt(M_ARENA_MAX, std::max(1, arenas)) == 1 &&
         mallopt(M_TRIM_THRESHOLD, trim_threshold_bytes) == 1;
#else
  (void)arenas;
  (void)trim_threshold_bytes;
  return false;
#endif
}

namespace {
std::atomic<int64_t> g_release_calls{0};
}  // namespace

void release_free_memory() {
  g_release_calls.fetch_add(1, std::memory_order_relaxed);
#if defined(__GLIBC__)
  if (glibc_malloc()) malloc_trim(0);
#endif
}

int64_t release_free_memory_calls() {
  return g_release_calls.load(std::memory_order_relaxed);
}

MemoryReleaser::MemoryReleaser(std::chrono::milliseconds interval) {
  if (glibc_malloc() && interval.count() > 0) {
    thread_ = std::thread([this, interval] { loop(interval); });
  }
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
    release_free_memory();
    lock.lock();
    ++releases_;
  }
}

}  // namespace mmfuse
