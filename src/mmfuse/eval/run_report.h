// A run's report.html, rendered from its summary.json (history, test results, and the
// robustness / ablation / complexity sections `mmfuse eval --robustness` adds).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace mmfuse::eval {

/// The report JSON (eval/report.h schema) of a run summary.
nlohmann::json run_report_json(const nlohmann::json& summary, const std::string& run_name,
                               const std::string& config_yaml);

/// Writes run_dir/report.html atomically from `summary` and the config text.
void write_run_report(const std::string& run_dir, const nlohmann::json& summary,
                      const std::string& config_yaml);

/// Re-reads run_dir/summary.json and config.yaml and re-renders run_dir/report.html.
void write_run_report(const std::string& run_dir);

}  // namespace mmfuse::eval
