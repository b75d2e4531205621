#include "mmfuse/core/memory.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "mmfuse/core/error.h"

namespace mmfuse {

namespace {

// The value in kB of a "Name:   123 kB" line of /proc/<pid>/status; -1 when absent.
int64_t proc_status_kb(const std::string& text, const std::string& name) {
  const std::string tag = name + ":";
  std::size_t pos = 0;
  while ((pos = text.find(tag, pos)) != std::string::npos) {
    if (pos == 0 || text[pos - 1] == '\n') {
      long long kb = -1;
      if (std::sscanf(text.c_str() + pos + tag.size(), " %lld", &kb) == 1) return kb;
      return -1;
    }
    pos += tag.size();
  }
  return -1;
}

}  // namespace

ProcessMemory parse_proc_status(const std::string& text) {
  ProcessMemory m;
  const int64_t rss = proc_status_kb(text, "VmRSS"), hwm = proc_status_kb(text, "VmHWM");
  if (rss < 0 || hwm < 0) return m;
  m.known = true;
  m.rss_bytes = rss * 1024;
  m.peak_bytes = hwm * 1024;
  return m;
}

ProcessMemory process_memory() {
  std::ifstream in("/proc/self/status");
  if (!in) return {};
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_proc_status(ss.str());
}

int64_t MemoryBudget::cache_cap_bytes() const {
  return set() ? static_cast<int64_t>(static_cast<double>(total_mb * kMiB) * kCacheShare) : 0;
}

int64_t MemoryBudget::queue_cap_bytes() const {
  return set() ? static_cast<int64_t>(static_cast<double>(total_mb * kMiB) * kQueueShare) : 0;
}

int64_t parse_memory_mb(const std::string& text, const std::string& what) {
  std::size_t used = 0;
  long long v = -1;
  try {
    v = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != text.size() || text.empty() || v < 0) {
    throw UsageError(what + ": expected a size in MiB, a whole number >= 0 (0: no budget), got '" +
                     text + "'");
  }
  return v;
}

MemoryReport MemoryReport::measure(const MemoryBudget& budget) {
  MemoryReport r;
  r.process = process_memory();
  r.budget_bytes = budget.total_mb * kMiB;
  return r;
}

std::string format_bytes(int64_t bytes) {
  const char* units[] = {"B", "KB", "MB", "GB", "TB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 4) v /= 1024.0, ++u;
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", v, units[u]);
  return buf;
}

nlohmann::json MemoryReport::to_json() const {
  auto mb = [](int64_t b) { return static_cast<double>(b * 10 / kMiB) / 10.0; };
  nlohmann::json j;
  if (process.known) {
    j["peak_rss_mb"] = mb(process.peak_bytes);
    j["rss_mb"] = mb(process.rss_bytes);
  }
  if (budget_bytes > 0) {
    j["budget_mb"] = budget_bytes / kMiB;
    j["within_budget"] = within_budget();
  }
  nlohmann::json parts = nlohmann::json::object();
  for (const auto& [name, bytes] : components) parts[name] = mb(bytes);
  j["components_mb"] = parts;
  return j;
}

std::string MemoryReport::summary() const {
  if (!process.known) return "peak memory unknown (no /proc/self/status)";
  std::string s =
      "peak " + format_bytes(process.peak_bytes) + " (rss " + format_bytes(process.rss_bytes);
  for (std::size_t i = 0; i < components.size(); ++i) {
    s += (i ? ", " : "; ") + components[i].first + " " + format_bytes(components[i].second);
  }
  s += ")";
  if (budget_bytes > 0) {
    s += within_budget() ? ", within the budget of " + format_bytes(budget_bytes)
                         : ", OVER the budget of " + format_bytes(budget_bytes);
  }
  return s;
}

}  // namespace mmfuse
