// The allocator tuning applies on glibc and is switched off by MMFUSE_DEFAULT_MALLOC=1; once
// applied, a large block freed and allocated again is not faulted in afresh.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <cstdlib>
#include <cstring>

#include "mmfuse/core/allocator.h"

namespace mmfuse {
namespace {

int64_t minor_faults() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return usage.ru_minflt;
}

// Allocates `bytes`, writes every page, frees; returns the minor page faults it took.
int64_t faults_of_a_written_block(std::size_t bytes) {
  const int64_t before = minor_faults();
  auto* block = static_cast<char*>(std::malloc(bytes));
  if (block == nullptr) return -1;
  std::memset(block, 1, bytes);
  asm volatile("" : : "r"(block) : "memory");  // the writes happen
  std::free(block);
  return minor_faults() - before;
}

TEST(Allocator, TuningAppliesOnGlibcAndTheEnvironmentSwitchesItOff) {
  ::setenv("MMFUSE_DEFAULT_MALLOC", "1", 1);
  EXPECT_FALSE(tune_allocator_for_training());
  ::unsetenv("MMFUSE_DEFAULT_MALLOC");
  EXPECT_EQ(tune_allocator_for_training(), glibc_malloc());  // not under AddressSanitizer
#if defined(__GLIBC__) && !defined(MMFUSE_ASAN)
  EXPECT_TRUE(glibc_malloc());
#endif
}

TEST(Allocator, ABlockAboveTheMmapThresholdIsReusedWithoutPageFaults) {
  if (!glibc_malloc()) GTEST_SKIP() << "malloc is not glibc's";
  ::unsetenv("MMFUSE_DEFAULT_MALLOC");
  ASSERT_TRUE(tune_allocator_for_training());
  constexpr std::size_t kBytes = std::size_t{96} << 20;  // 24,576 pages, above 32 MiB
  const int64_t first = faults_of_a_written_block(kBytes);
  const int64_t again = faults_of_a_written_block(kBytes);
  // mmap()ed, each use faults in every page again (>= 24,576); kept in the heap, none
  EXPECT_GE(first, 0);
  EXPECT_LT(again, 1000) << "first use: " << first << " faults";
}

// What `mmfuse eval` sets (training's "never trim") against a server's 8 MiB threshold: a freed
// block at the top of the heap is returned by the server's and faulted in again at the next use.
TEST(Allocator, BatchJobsKeepTheHeapTopAndServersReturnIt) {
  if (!glibc_malloc()) GTEST_SKIP() << "malloc is not glibc's";
  ::unsetenv("MMFUSE_DEFAULT_MALLOC");
  ASSERT_TRUE(tune_allocator_for_training());
  constexpr std::size_t kBytes = std::size_t{96} << 20;
  ASSERT_TRUE(tune_allocator_for_inference(2, kInferenceTrimThresholdBytes));
  faults_of_a_written_block(kBytes);
  EXPECT_GT(faults_of_a_written_block(kBytes), 20000);  // trimmed after the first use
  ASSERT_TRUE(tune_allocator_for_inference(2, kTrainingTrimThresholdBytes));
  faults_of_a_written_block(kBytes);
  EXPECT_LT(faults_of_a_written_block(kBytes), 1000);  // kept
}

TEST(Allocator, ReleaseCallsAreCounted) {
  const int64_t before = release_free_memory_calls();
  release_free_memory();
  EXPECT_EQ(release_free_memory_calls(), before + 1);
}

}  // namespace
}  // namespace mmfuse
