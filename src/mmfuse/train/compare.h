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
  std::vector<std::string> fusions;    ///< fusion types; composite specs as YAML flow maps too
  bool single_modalities = true;       ///< also one model per modality (its encoder alone)
  std::string out_dir;                 ///< each variant in out_dir/<name>
  bool progress = true;
};

/// One row per variant: {"name", "modalities", "fusion", "accuracy", "macro_f1", "params",
/// "train_seconds", "best_epoch", "run_dir"} (accuracy/F1 of the first class target on test,
/// or on validation when there is no test split).
nlohmann::json run_comparison(const CompareRequest& request);

/// A copy of the run config `root` keeping only `modality`'s encoder and no fusion.
ConfigNode single_modality_config(const ConfigNode& root, const std::string& modality);

/// A copy of `root` whose model.fusion is `fusion` (a type name, or a YAML flow map).
ConfigNode with_fusion(const ConfigNode& root, const std::string& fusion);

/// The rows as an aligned text table.
std::string comparison_table(const nlohmann::json& rows);

}  // namespace mmfuse::train
