// The trainer: `mmfuse train --config C [overrides] [--out RUN_DIR] [--resume RUN_DIR]`.
//
// A run directory holds:
//   config.yaml            the resolved config (overrides applied, data path absolute)
//   dataset.json           fitted preprocessing (pipelines, label maps) for inference
//   checkpoints/last.safetensors   model + optimizer + RNG + trainer state (resume from here)
//   checkpoints/best.safetensors   weights of the best validation epoch
//   model.safetensors      the selected final weights (best or last), loadable from Python
//   metrics.jsonl          one JSON line per logged step and per epoch
//   summary.json           history, validation and test results, timing
//   report.html            the report (curves, confusion matrix, ...)
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mmfuse/data/dataset.h"
#include "mmfuse/models/model.h"
#include "mmfuse/train/load_run.h"  // LoadedRun, load_run (moved there)

namespace mmfuse::train {

struct TrainRequest {
  std::string config_path;             ///< required unless resuming
  std::vector<std::string> overrides;  ///< `train.epochs=3` ...
  std::string run_dir;                 ///< default: runs/<config name>
  bool resume = false;                 ///< continue run_dir from checkpoints/last
  std::optional<int> threads;          ///< overrides train.threads
  std::optional<std::string> device;   ///< overrides train.device
  bool progress = true;                ///< progress bar / lines on stderr
  bool evaluate_test = true;           ///< evaluate the test split at the end when it exists
};

struct TrainResult {
  std::string run_dir;
  nlohmann::json summary;  ///< what summary.json holds
};

/// Runs (or resumes) a training run. Throws Error/ConfigError/InputError with clear messages;
/// on NaN/Inf loss stops with an Error and keeps the last good checkpoint.
TrainResult run_training(const TrainRequest& request);

/// Model inputs (item shapes, vocabulary sizes, target kinds and sizes) of a fitted dataset.
models::ModelInputs model_inputs(const data::Dataset& dataset);

}  // namespace mmfuse::train
