// The C library's allocator tuned for training loops, and for inference (servers, evaluation).
//
// Training:
// A training step allocates and frees the same large activation tensors (MBs each) every step.
// glibc serves blocks above its mmap threshold with fresh mmap()s and returns freed memory at the
// top of the heap to the OS, so every step pays page faults on memory it just gave back
// (15% of a LeNet training step in `perf`, almost all in do_anonymous_page/clear_page). Raising
// the mmap threshold to its maximum (32 MiB) and switching trimming off keeps freed blocks in the
// heap for the next step. Blocks above 32 MiB (MobileNetV2's maps from batch 8 on, the audio
// LeNet's at batch 256) were still mmap()ed and faulted in afresh at every use -- 30% of the
// samples of a MobileNetV2 evaluation in the kernel, a batch of 8 ten times slower per image than
// a batch of 1 -- so mmap()ed blocks are switched off too (M_MMAP_MAX 0; a thread arena's block
// larger than its 64 MiB heap still falls back to mmap()). Measured in docs/BENCHMARKS.md.
//
// Inference: the training tuning makes the resident set follow the peak of every malloc arena:
// each thread that allocates is given its own arena (up to 8 per core), each arena's heap grows to
// the largest set of blocks it once held at the same time and never gives it back, so the
// resident set creeps up over a long run as arenas meet new peaks and their free blocks fragment
// (a server over hundreds of thousands of requests; `mmfuse eval` over a 55,000-line manifest:
// 493 MB resident, 228 MB after one malloc_trim, docs/BENCHMARKS.md). A server caps the arenas
// and returns freed memory above a few MiB at the top of each heap; freed blocks in the middle
// of a heap are returned only by malloc_trim(0), which MemoryReleaser calls periodically -- what
// jemalloc's and tcmalloc's background release do. A batch job (`mmfuse eval`) caps the arenas
// but keeps the training trim setting, and returns free pages between the chunks of its manifest
// (data/chunked_loader.h), not on a timer: with a small threshold, or a trim every second, each
// batch's maps were returned and faulted in again by the next batch (a MobileNetV2 batch of 64
// takes longer than a second); with neither, a 55,000-sample evaluation held 1.21x the memory of
// a 5,000-sample one.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>  // defines __GLIBC__ (through <features.h>) for the test below
#include <mutex>
#include <thread>

// AddressSanitizer replaces malloc (its allocator ignores mallopt): the tunings do not apply there.
#if defined(__SANITIZE_ADDRESS__)
#define MMFUSE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MMFUSE_ASAN 1
#endif
#endif

namespace mmfuse {

/// Whether malloc is glibc's own -- not another C library's, nor AddressSanitizer's -- so that
/// mallopt/malloc_trim tune it.
constexpr bool glibc_malloc() {
#if defined(__GLIBC__) && !defined(MMFUSE_ASAN)
  return true;
#else
  return false;
#endif
}

/// Whether a process may tune malloc: glibc_malloc() and the environment does not set
/// MMFUSE_DEFAULT_MALLOC=1 (which keeps glibc's defaults for A/B runs).
bool allocator_tuning_allowed();

/// Applies the tuning when allocator_tuning_allowed(). Call once at start-up, before large
/// allocations. Returns whether it applied.
bool tune_allocator_for_training();

/// At most `arenas` malloc arenas (the threads that allocate at once), a trim threshold of
/// `trim_threshold_bytes` (kInferenceTrimThresholdBytes for a server). No-op unless
/// allocator_tuning_allowed(). Call before the worker threads start (after
/// tune_allocator_for_training, which the command line applies first). Returns whether it applied.
bool tune_allocator_for_inference(int arenas, int trim_threshold_bytes);

/// Freed memory kept at the top of each heap before it is returned to the OS (servers).
inline constexpr int kInferenceTrimThresholdBytes = 8 << 20;
/// The same for training loops and batch jobs: never (mallopt's -1); freed heap is kept for the
/// next step or batch, whose maps have the same sizes (with 1 GiB, a MobileNetV2 evaluation at
/// batch 64 returned two of its three GB at every batch and faulted them in again).
inline constexpr int kTrainingTrimThresholdBytes = -1;

/// Returns the allocator's free pages to the OS now (glibc malloc_trim(0); nothing elsewhere).
/// The evaluation's chunked reader calls it between chunks.
void release_free_memory();
/// Calls of release_free_memory() so far in this process (tests).
int64_t release_free_memory_calls();

/// A thread that returns the allocator's free pages to the OS (glibc malloc_trim(0)) every
/// `interval` until destroyed; an interval of zero (or another C library) starts nothing. A trim
/// walks each arena under its lock: a few hundred microseconds for a server's heaps, once a
/// second by default (`mmfuse serve --release-memory-s`, `mmfuse eval`).
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

}  // namespace mmfuse
