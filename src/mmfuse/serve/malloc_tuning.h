// The C library's allocator tuned for a long-running server.
//
// The command line tunes glibc for training loops (core/allocator.h: freed blocks stay in the heap
// up to 1 GiB). In a server that tuning makes the resident set follow the peak of every malloc
// arena: each of the many handler threads is given its own arena (up to 8 per core), each
// arena's heap grows to the largest set of requests it once held at the same time and never gives
// it back, so the resident set keeps creeping up over hundreds of thousands of requests as
// arenas meet new peaks (bench/rss_breakdown.py, docs/BENCHMARKS.md). Serving caps the arenas
// and returns freed memory above a few MiB at the top of each heap. Freed blocks in the middle of
// a heap (between the blocks of requests still in flight) are returned only by malloc_trim(0),
// which MemoryReleaser calls periodically -- what jemalloc's and tcmalloc's background release do.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

namespace mmfuse::serve {

/// At most `arenas` malloc arenas (the threads that decode at once: --preprocess-threads), a trim
/// threshold of kServeTrimThresholdBytes. No-op when MMFUSE_DEFAULT_MALLOC=1 or the C library is
/// not glibc. Call before the handler threads start. Returns whether it applied.
bool tune_allocator_for_serving(int arenas);

/// Freed memory kept at the top of each heap before it is returned to the OS.
inline constexpr int kServeTrimThresholdBytes = 8 << 20;

/// A thread that returns the allocator's free pages to the OS (glibc malloc_trim(0)) every
/// `interval` until destroyed; an interval of zero (or another C library) starts nothing. A trim
/// walks each arena under its lock: a few hundred microseconds for the server's heaps, once a
/// second by default (`mmfuse serve --release-memory-s`).
class MemoryReleaser {
 public:
  explicit MemoryReleaser(std::chrono::milliseconds interval);
  ~MemoryReleaser();
  MemoryReleaser(const MemoryReleaser&) = delete;
  MemoryReleaser& operator=(const MemoryReleaser&) = delete;

  /// Whether the thread runs (a positive interval on glibc).
  bool active() const { return thread_.joinable(); }
  /// Trims done so far.
  int64_t releases() const;

 private:
  void loop(std::chrono::milliseconds interval);

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  int64_t releases_ = 0;
  std::thread thread_;
};

}  // namespace mmfuse::serve
