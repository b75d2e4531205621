// The one training loop: `mmfuse train --config C [overrides] [--out RUN_DIR] [--resume RUN_DIR]`
// for every task (train/task.h), in one process or several (torchrun; train/distributed.h).
//
// A run directory holds:
//   config.yaml            the resolved config (overrides applied, data path absolute)
//   dataset.json           fitted preprocessing (pipelines, label maps) for inference
//   checkpoints/last.safetensors   model + optimizers + companions + RNG + trainer state
//   checkpoints/best.safetensors   weights of the best validation epoch (none without a val split)
//   model.safetensors      the selected final weights (best or last), loadable from Python
//   metrics.jsonl          one JSON line per logged step and per epoch
//   summary.json           task, history, validation and test results, timing
//   report.html            the report (curves, confusion matrix, ...)
// runtime/run.h loads such a directory for inference, whatever the task.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include "mmfuse/data/dataset_spec.h"
#include "mmfuse/train/distributed_options.h"
#include "mmfuse/train/train_config.h"

namespace mmfuse::train {

struct TrainRequest {
  /// The run config, parsed at the edge (RunConfig::load); unset when resuming (the run
  /// directory's config.yaml is read).
  std::optional<RunConfig> config;
  /// Run directory; default runs/<config file name>.
  std::string run_dir;
  /// Continue run_dir from checkpoints/last.safetensors. Also implied when a torchrun restart
  /// (distributed.restart_count > 0) finds a checkpoint in run_dir.
  bool resume = false;
  std::optional<int> threads;               ///< overrides train.threads
  std::optional<std::string> device;        ///< overrides train.device
  std::optional<int64_t> memory_budget_mb;  ///< overrides train.memory_budget_mb (MiB, 0: none)
  bool progress = true;                     ///< progress bar / lines on stderr (process 0)
  bool evaluate_test = true;  ///< read and evaluate the test split at the end when it exists
  /// The processes of a data-parallel run (torchrun's environment, read by the CLI).
  DistributedOptions distributed;
  /// A fitted dataset.json to use instead of fitting the preprocessing again (a run derived from
  /// another one, e.g. a pruned run; it is copied into the run directory). Empty: fit it.
  std::string fitted_dataset;
  /// Cross-validation folds set on the data spec (data/dataset_spec.h FoldSpec; `mmfuse cv`).
  std::optional<data::FoldSpec> folds;
  /// Train on the train and val manifests pooled, with no validation (DatasetSpec::
  /// with_val_pooled; the refit of `mmfuse cv --refit`). As with any data spec without a val
  /// split, the config must select the last epoch (train.select: last) and use neither early
  /// stopping nor a plateau schedule.
  bool pool_val = false;
  /// Called once on a fresh (not resumed) run when the model is built and the task prepared,
  /// before the first step: e.g. loads the weights of a pruned run in place.
  std::function<void(torch::nn::Module&)> on_model_built;
  /// Called after every optimizer step (under NoGradGuard): e.g. re-applies pruning masks.
  std::function<void(torch::nn::Module&)> after_step;
};

struct TrainResult {
  std::string run_dir;
  nlohmann::json summary;  ///< what summary.json holds
};

/// Runs (or resumes) a training run of any task. Throws Error/ConfigError/InputError with clear
/// messages; on NaN/Inf loss every process stops with an Error and the last good checkpoint is
/// kept.
TrainResult run_training(const TrainRequest& request);

}  // namespace mmfuse::train
