// The C library's allocator tuned for training loops.
//
// A training step allocates and frees the same large activation tensors (MBs each) every step.
// glibc serves blocks above its mmap threshold with fresh mmap()s and returns freed memory at the
// top of the heap to the OS, so every step pays page faults on memory it just gave back
// (15% of a LeNet training step in `perf`, almost all in do_anonymous_page/clear_page). Raising
// the mmap threshold to its maximum (32 MiB) and the trim threshold to 1 GiB keeps freed blocks
// in the heap for the next step. Measured in docs/BENCHMARKS.md.
#pragma once

#include <cstdlib>  // defines __GLIBC__ (through <features.h>) for the test below

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

}  // namespace mmfuse
