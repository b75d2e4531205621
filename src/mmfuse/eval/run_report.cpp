#include "mmfuse/eval/run_report.h"

#include <filesystem>

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"
#include "mmfuse/eval/report.h"

namespace mmfuse::eval {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// The report's test sections: a supervised run's targets as they are; the numbers of other
// tasks (a retrieval direction each, a translation's errors) as tables of metrics.
json test_sections(const json& test) {
  if (test.contains("targets")) return test["targets"];
  json out = json::object(), overall = json::object();
  for (auto it = test.begin(); it != test.end(); ++it) {
    if (it.value().is_object()) {
      json numbers = json::object();
      for (auto m = it.value().begin(); m != it.value().end(); ++m) {
        if (m.value().is_number()) numbers[m.key()] = m.value();
      }
      out[it.key()] = {{"kind", "metrics"}, {"report", numbers}};
    } else if (it.value().is_number()) {
      overall[it.key()] = it.value();
    }
  }
  if (!overall.empty()) out["overall"] = {{"kind", "metrics"}, {"report", overall}};
  return out;
}

}  // namespace

json run_report_json(const json& summary, const std::string& run_name,
                     const std::string& config_yaml) {
  const int64_t params = summary.value("params", int64_t{0});
  json report;
  report["title"] = "mmfuse run " + run_name;
  const bool best = summary.value("selected", std::string("best")) == "best";
  report["subtitle"] = (best ? "best epoch " : "last epoch ") +
                       std::to_string(summary.value(best ? "best_epoch" : "selected_epoch", 0)) +
                       (summary.contains("val") ? ", " : " (no val split), ") +
                       std::to_string(summary.value("steps", 0)) + " steps, " +
                       std::to_string(params) + " parameters";
  report["history"] = summary.value("history", json::array());
  report["metric_name"] = summary.value("metric_name", std::string("metric"));
  if (summary.contains("test")) report["test"] = test_sections(summary["test"]);
  for (const char* section : {"robustness", "ablation"}) {
    if (summary.contains(section)) report[section] = summary[section];
  }
  json complexity = {{"params", params},
                     {"train_seconds", summary.value("train_seconds", 0.0)},
                     {"train_samples_per_s", summary.value("train_samples_per_s", 0.0)}};
  if (summary.contains("memory") && summary["memory"].contains("peak_rss_mb")) {
    complexity["peak_rss_mb"] = summary["memory"]["peak_rss_mb"];
  }
  if (summary.contains("complexity")) complexity.update(summary["complexity"]);
  report["complexity"] = complexity;
  report["config"] = config_yaml;
  return report;
}

void write_run_report(const std::string& run_dir, const json& summary,
                      const std::string& config_yaml) {
  eval::write_report(
      (fs::path(run_dir) / "report.html").string(),
      run_report_json(summary, fs::path(run_dir).lexically_normal().filename().string(),
                      config_yaml));
}

void write_run_report(const std::string& run_dir) {
  const std::string path = (fs::path(run_dir) / "summary.json").string();
  json summary;
  try {
    summary = json::parse(read_file(path));
  } catch (const json::exception& e) {
    throw InputError(std::string("summary.json is not valid JSON: ") + e.what(), path);
  }
  write_run_report(run_dir, summary, read_file((fs::path(run_dir) / "config.yaml").string()));
}

}  // namespace mmfuse::eval
