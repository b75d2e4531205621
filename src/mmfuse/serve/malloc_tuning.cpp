#include "mmfuse/serve/malloc_tuning.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace mmfuse::serve {

bool tune_allocator_for_serving(int arenas) {
  const char* off = std::getenv("MMFUSE_DEFAULT_MALLOC");
  if (off && std::strcmp(off, "1") == 0) return false;
#if defined(__GLIBC__)
  return mallopt(M_ARENA_MAX, std::max(1, arenas)) == 1 &&
         mallopt(M_TRIM_THRESHOLD, kServeTrimThresholdBytes) == 1;
#else
  return false;
#endif
}

}  // namespace mmfuse::serve
