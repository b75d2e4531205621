// The C library's allocator tuned for a long-running server.
//
// The command line tunes glibc for training loops (core/allocator.h: freed blocks stay in the heap
// up to 1 GiB). In a server that tuning makes the resident set follow the peak of every malloc
// arena: each of the many handler threads is given its own arena (up to 8 per core), each
// arena's heap grows to the largest set of requests it once held at the same time and never gives
// it back, so the resident set keeps creeping up over hundreds of thousands of requests as
// arenas meet new peaks (bench/rss_breakdown.py, docs/BENCHMARKS.md). Serving caps the arenas
// and returns freed memory above a few MiB at the top of each heap.
#pragma once

namespace mmfuse::serve {

/// At most `arenas` malloc arenas (the threads that decode at once: --preprocess-threads), a trim
/// threshold of kServeTrimThresholdBytes. No-op when MMFUSE_DEFAULT_MALLOC=1 or the C library is
/// not glibc. Call before the handler threads start. Returns whether it applied.
bool tune_allocator_for_serving(int arenas);

/// Freed memory kept at the top of each heap before it is returned to the OS.
inline constexpr int kServeTrimThresholdBytes = 8 << 20;

}  // namespace mmfuse::serve
