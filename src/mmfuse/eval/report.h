// RUN_DIR/report.html: one self-contained page (inline SVG, no network) with the loss and metric
// curves, the confusion matrix heat map, per-class F1, robustness curves, modality-ablation bars
// and the comparison table, rendered from the run's JSON summary.
//
// Summary JSON (every section optional):
//   {"title": str, "subtitle": str, "config": yaml-text,
//    "history": [{"epoch": n, "train_loss": x, "val_loss": x, "val_metric": x, "lr": x}, ...],
//    "metric_name": "accuracy",
//    "test": {"<target>": {"kind": "classification", "class_names": [...],
//                          "report": ClassificationReport::to_json()} |
//                         {"kind": "regression", "report": RegressionReport::to_json()}},
//    "robustness": {"levels": [0, 0.1, ...], "curves": {"image": [...], ...},
//                   "auc": {"image": x, ...}, "effective": {...}, "mean_auc": x, "target": str,
//                   "clean": x},                    (eval/robustness.h; extra keys are ignored)
//    "ablation": [{"name": "all", "accuracy": x}, {"name": "without image", ...}, ...],
//    "comparison": [{"name": str, "accuracy": x, "macro_f1": x, "robustness_auc": x,
//                    "params": n, "train_time_s": x}, ...],
//    "complexity": {"params": n, "flops_per_sample": n, ...},
//    "images": [{"caption": str, "png_base64": str}, ...]}
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace mmfuse::eval {

/// The HTML page for a run summary. Every chart is an inline <svg class="chart">.
std::string render_report(const nlohmann::json& summary);

/// Renders and writes `path` atomically.
void write_report(const std::string& path, const nlohmann::json& summary);

}  // namespace mmfuse::eval
