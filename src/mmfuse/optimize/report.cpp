// OptimizeReport and ModelFigures as JSON and as a Markdown table.
#include <cmath>
#include <iomanip>
#include <sstream>

#include "mmfuse/optimize/optimize.h"

namespace mmfuse::optimize {

nlohmann::json ModelFigures::to_json() const {
  return {
      {"val_accuracy", val_accuracy},   {"val_macro_f1", val_macro_f1},
      {"test_accuracy", test_accuracy}, {"test_macro_f1", test_macro_f1},
      {"batch1_p50_ms", batch1_p50_ms}, {"batch" + std::to_string(batch) + "_p50_ms", batch_p50_ms},
      {"weights_bytes", weights_bytes}};
}

nlohmann::json OptimizeReport::to_json() const {
  nlohmann::json sens = nlohmann::json::array();
  for (const auto& s : sensitivity) sens.push_back(s.to_json());
  return {{"source_run", source_run},
          {"out_run", out_run},
          {"target", target},
          {"int8", mode},
          {"calib_samples", calib_samples},
          {"threads", threads},
          {"quantized", quantized},
          {"float_layers", float_layers},
          {"weight_only", weight_only},
          {"sensitivity", sens},
          {"fp32", fp32.to_json()},
          {"int8_figures", optimized.to_json()}};
}

std::string OptimizeReport::table() const {
  std::ostringstream s;
  s << std::fixed;
  auto row = [&](const std::string& name, double a, double b, int digits, const std::string& unit) {
    if (std::isnan(a) || std::isnan(b)) {  // a split the run does not have
      s << "| " << name << " | - | - | - |\n";
      return;
    }
    s << "| " << name << " | " << std::setprecision(digits) << a << unit << " | " << b << unit
      << " | " << std::setprecision(2) << (a != 0 ? b / a : 0.0) << "x |\n";
  };
  s << "## mmfuse optimize --int8 " << mode << "\n\n"
    << "source " << source_run << ", " << calib_samples << " calibration samples, " << threads
    << " threads, target " << target << "\n\n"
    << "| | fp32 | int8 | int8/fp32 |\n|---|---|---|---|\n";
  row("val accuracy", fp32.val_accuracy, optimized.val_accuracy, 2, "%");
  row("val macro F1", fp32.val_macro_f1, optimized.val_macro_f1, 2, "%");
  row("test accuracy", fp32.test_accuracy, optimized.test_accuracy, 2, "%");
  row("test macro F1", fp32.test_macro_f1, optimized.test_macro_f1, 2, "%");
  row("batch-1 p50", fp32.batch1_p50_ms, optimized.batch1_p50_ms, 3, " ms");
  row("batch-" + std::to_string(fp32.batch) + " p50", fp32.batch_p50_ms, optimized.batch_p50_ms, 3,
      " ms");
  row("weights on disk", fp32.weights_bytes / 1024.0, optimized.weights_bytes / 1024.0, 1, " KiB");
  s << "\n"
    << quantized.size() << " layers int8, " << float_layers.size() << " float32; "
    << weight_only.size() << " other parameters stored int8, weight only\n";
  if (!sensitivity.empty()) {
    s << "\n| layer | kind | val accuracy drop alone (points) | logit change | int8 |\n"
      << "|---|---|---|---|---|\n";
    for (const auto& l : sensitivity) {
      s << "| " << l.name << " | " << l.kind << " | " << std::setprecision(2) << l.accuracy_drop
        << " | " << std::setprecision(4) << l.logit_change << " | "
        << (l.kept_float ? "float: " + l.reason : "yes") << " |\n";
    }
  }
  for (const auto& [name, why] : float_layers) {
    if (sensitivity.empty()) s << "float32: " << name << " (" << why << ")\n";
  }
  return s.str();
}

}  // namespace mmfuse::optimize
