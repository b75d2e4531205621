// The allocator tuning applies on glibc and is switched off by MMFUSE_DEFAULT_MALLOC=1.
#include <gtest/gtest.h>

#include <cstdlib>

#include "mmfuse/core/allocator.h"

namespace mmfuse {
namespace {

TEST(Allocator, TuningAppliesOnGlibcAndTheEnvironmentSwitchesItOff) {
  ::unsetenv("MMFUSE_DEFAULT_MALLOC");
  EXPECT_EQ(tune_allocator_for_training(), glibc_malloc());  // not under AddressSanitizer
#if defined(__GLIBC__) && !defined(MMFUSE_ASAN)
  EXPECT_TRUE(glibc_malloc());
#endif
  ::setenv("MMFUSE_DEFAULT_MALLOC", "1", 1);
  EXPECT_FALSE(tune_allocator_for_training());
  ::unsetenv("MMFUSE_DEFAULT_MALLOC");
}

}  // namespace
}  // namespace mmfuse
