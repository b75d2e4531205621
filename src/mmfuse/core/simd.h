// Function multi-versioning for hand-vectorised loops: the function is compiled twice, for AVX2 and
// for the baseline x86-64, and the loader picks one per machine (GCC ifunc). Elsewhere a no-op.
#pragma once

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define MMFUSE_SIMD_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define MMFUSE_SIMD_CLONES
#endif
