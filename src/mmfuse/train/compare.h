// `mmfuse compare`: trains the same encoders with each fusion and with each single modality, and
// tabulates accuracy, macro F1, parameters and time — the grid that answers "which combination
// works here?".
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mmfuse/core/config.h"

namespace mmfuse::train {

struct CompareRequest {
  std::string config_path;
  std::vector<std::string> overrides;  ///< applied to every variant
  /// Fusion types, composite specs as YAML flow maps, or "config" (the config's own fusion).
  std::vector<std::string> fusions;
  bool single_modalities = true;  ///< also one model per modality (its encoder alone)
  std::string out_dir;            ///< each variant in out_dir/<name>
  bool progress = true;
  /// Also measure each variant's robustness (eval/robustness.h) on the test split (else val)
  /// and add "robustness_auc": the mean over modalities of the accuracy-vs-noise area.
  bool robustness = true;
  std::vector<double> levels = {0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9};
  std::string noise_dir;  ///< audio noise; empty: eval/run_eval.h's default_noise_dir
};

/// One row per variant: {"name", "modalities", "fusion", "accuracy", "macro_f1",
/// "robustness_auc", "params", "train_seconds", "best_epoch", "run_dir"} (accuracy/F1 of the
/// first class target on test, or on validation when there is no test split). Also writes
/// out_dir/comparison.json (the rows) and out_dir/report.html (report.h's "comparison").
nlohmann::json run_comparison(const CompareRequest& request);

/// The --fusions list: split on ';' when it holds a '{' (composite specs), else on ','.
std::vector<std::string> split_fusion_list(const std::string& list);

/// A copy of the run config `root` keeping only `modality`'s encoder and no fusion.
ConfigNode single_modality_config(const ConfigNode& root, const std::string& modality);

/// A copy of `root` whose model.fusion is `fusion` (a type name, or a YAML flow map).
ConfigNode with_fusion(const ConfigNode& root, const std::string& fusion);

/// The rows as an aligned text table.
std::string comparison_table(const nlohmann::json& rows);

}  // namespace mmfuse::train
