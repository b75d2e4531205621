// Process memory as the kernel counts it, and memory budgets.
//
// process_memory() reads /proc/self/status: VmRSS (resident now) and VmHWM (the peak resident
// set, what `/usr/bin/time -f %M` reports at exit). A MemoryReport pairs those with the bytes of
// the components that are known (parameters, optimizer state, caches, loader queue), so a run
// says where its memory went; train, eval, bench and serve report one.
//
// Budgets: MemoryBudget is the typed form of `--memory-budget MB` / `memory.budget_mb`. It
// caps the components that hold data by choice (the RAM feature cache, the loader's prefetch
// queue, the server's queue) at a share of the budget each; a component's own setting (e.g. the
// dataset spec's cache.ram_mb) applies when smaller. Everything else (libraries, parameters,
// activations) is what the job needs; the report says whether the whole peak stayed within it.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace mmfuse {

struct ProcessMemory {
  bool known = false;      ///< false where /proc/self/status is unavailable (not Linux)
  int64_t rss_bytes = 0;   ///< VmRSS
  int64_t peak_bytes = 0;  ///< VmHWM
};

/// The current and peak resident set of this process.
ProcessMemory process_memory();
/// Parses the text of /proc/<pid>/status (VmRSS and VmHWM lines, in kB). Unknown when absent.
ProcessMemory parse_proc_status(const std::string& text);

inline constexpr int64_t kMiB = 1024 * 1024;

struct MemoryBudget {
  int64_t total_mb = 0;  ///< the whole process, in MiB (0: no budget)
  /// Share of the total given to the RAM feature cache and to the loader's prefetch queue.
  static constexpr double kCacheShare = 0.25, kQueueShare = 0.05;

  bool set() const { return total_mb > 0; }
  /// Byte caps derived from the total; 0 when no budget is set (no cap).
  int64_t cache_cap_bytes() const;
  int64_t queue_cap_bytes() const;
};

/// Parses a budget in MiB from a flag or config value ("1536"); throws UsageError naming `what`
/// when it is not a whole number >= 0.
int64_t parse_memory_mb(const std::string& text, const std::string& what);

/// Where a run's memory went: process numbers plus known components, in bytes.
struct MemoryReport {
  ProcessMemory process;
  int64_t budget_bytes = 0;                                 ///< 0: none
  std::vector<std::pair<std::string, int64_t>> components;  ///< name -> bytes, in report order

  /// Now's process numbers, with no components yet.
  static MemoryReport measure(const MemoryBudget& budget = {});
  void add(std::string name, int64_t bytes) { components.emplace_back(std::move(name), bytes); }
  bool within_budget() const { return budget_bytes <= 0 || process.peak_bytes <= budget_bytes; }
  /// {"peak_rss_mb", "rss_mb", "budget_mb" (when set), "within_budget", "components_mb": {...}}
  nlohmann::json to_json() const;
  /// One line for logs: "peak 1.02 GB (rss 0.98 GB; parameters 1.2 MB, ...)".
  std::string summary() const;
};

/// "1.02 GB", "12.5 MB", "512 B" (powers of 1024).
std::string format_bytes(int64_t bytes);

}  // namespace mmfuse
