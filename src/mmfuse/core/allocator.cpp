#include "mmfuse/core/allocator.h"

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
  constexpr int kMmapThreshold = 32 * 1024 * 1024;    // glibc's maximum on 64-bit
  constexpr int kTrimThreshold = 1024 * 1024 * 1024;  // keep up to 1 GiB of freed heap
  return mallopt(M_MMAP_THRESHOLD, kMmapThreshold) == 1 &&
         mallopt(M_TRIM_THRESHOLD, kTrimThreshold) == 1;
#else
  return false;
#endif
}

}  // namespace mmfuse
