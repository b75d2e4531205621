// A trained run directory (train/trainer.h) loaded for inference: its resolved config, its fitted
// preprocessing (dataset.json) and its model with the selected weights, in eval mode.
#pragma once

#include <memory>
#include <string>

#include "mmfuse/core/config.h"
#include "mmfuse/data/dataset.h"
#include "mmfuse/models/model.h"

namespace mmfuse::train {

struct LoadedRun {
  std::string dir;
  ConfigNode config;
  std::shared_ptr<data::Dataset> dataset;
  models::MultimodalModel model{nullptr};
};

/// Throws Error naming the missing file when `run_dir` is not a finished run.
LoadedRun load_run(const std::string& run_dir, const std::string& weights = "model.safetensors");

}  // namespace mmfuse::train
