// Process memory: /proc/self/status parsing by hand, the reported peak against the kernel's
// own getrusage() figure, budgets and their parsing.
#include "mmfuse/core/memory.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <cstring>
#include <memory>

#include "mmfuse/core/error.h"

namespace mmfuse {
namespace {

TEST(Memory, ParsesProcStatusLines) {
  const std::string status =
      "Name:\tmmfuse\nVmPeak:\t 9000000 kB\nVmHWM:\t  1048576 kB\nVmRSS:\t   524288 kB\n"
      "RssAnon:\t 400000 kB\n";
  const ProcessMemory m = parse_proc_status(status);
  ASSERT_TRUE(m.known);
  EXPECT_EQ(m.peak_bytes, int64_t{1048576} * 1024);  // VmHWM, not VmPeak (virtual)
  EXPECT_EQ(m.rss_bytes, int64_t{524288} * 1024);
  EXPECT_FALSE(parse_proc_status("Name:\tx\nVmRSS:\t12 kB\n").known);  // no VmHWM
}

// The peak mmfuse reports is what the kernel measured: within 10% of getrusage's maximum
// resident set (what /usr/bin/time -f %M prints), after the process touched 64 MiB more.
TEST(Memory, ReportedPeakIsTheProcessPeak) {
  const ProcessMemory before = process_memory();
  ASSERT_TRUE(before.known) << "Linux /proc/self/status expected";
  constexpr std::size_t kBytes = 64u << 20;
  {
    std::unique_ptr<char[]> block(new char[kBytes]);
    std::memset(block.get(), 1, kBytes);  // resident, not just reserved
    volatile char sink = block[kBytes / 2];
    (void)sink;
    const ProcessMemory during = process_memory();
    EXPECT_GE(during.rss_bytes, before.rss_bytes + static_cast<int64_t>(kBytes) * 9 / 10);
  }
  const ProcessMemory after = process_memory();
  rusage usage{};
  ASSERT_EQ(getrusage(RUSAGE_SELF, &usage), 0);
  const double kernel_peak = static_cast<double>(usage.ru_maxrss) * 1024.0;  // kB on Linux
  EXPECT_GE(after.peak_bytes, before.rss_bytes + static_cast<int64_t>(kBytes) * 9 / 10);
  EXPECT_NEAR(static_cast<double>(after.peak_bytes), kernel_peak, 0.1 * kernel_peak);
  const MemoryReport report = MemoryReport::measure();
  EXPECT_NEAR(report.to_json()["peak_rss_mb"].get<double>(), kernel_peak / kMiB,
              0.1 * kernel_peak / kMiB);
}

TEST(Memory, BudgetSharesAndParsing) {
  MemoryBudget none;
  EXPECT_FALSE(none.set());
  EXPECT_EQ(none.cache_cap_bytes(), 0);
  MemoryBudget b{1000};
  EXPECT_EQ(b.cache_cap_bytes(), 250 * kMiB);
  EXPECT_EQ(b.queue_cap_bytes(), 50 * kMiB);
  EXPECT_EQ(parse_memory_mb("1536", "--memory-budget"), 1536);
  EXPECT_EQ(parse_memory_mb("0", "--memory-budget"), 0);
  for (const char* bad : {"", "1.5", "-3", "12MB", "lots"}) {
    try {
      parse_memory_mb(bad, "--memory-budget");
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const UsageError& e) {
      EXPECT_NE(std::string(e.what()).find("--memory-budget"), std::string::npos);
    }
  }
  MemoryReport r;
  r.process = {true, 100 * kMiB, 300 * kMiB};
  r.budget_bytes = 256 * kMiB;
  r.add("parameters", 3 * kMiB / 2);
  EXPECT_FALSE(r.within_budget());
  EXPECT_EQ(r.to_json()["components_mb"]["parameters"].get<double>(), 1.5);
  EXPECT_EQ(r.summary(),
            "peak 300.00 MB (rss 100.00 MB; parameters 1.50 MB), OVER the budget of 256.00 MB");
}

}  // namespace
}  // namespace mmfuse
