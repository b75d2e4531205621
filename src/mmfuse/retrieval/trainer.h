// Two-tower contrastive training: `mmfuse train --config C` when C has `task: retrieval`.
//
// Each step embeds a batch with both towers and minimises the symmetric InfoNCE loss
// (contrastive.h) with the learned logit scale. After each epoch the validation split is embedded
// and evaluated in both directions (evaluate.h); the epoch with the best selection value
// (RetrievalConfig::select_metric_name) is kept. The test split is only evaluated at the end,
// with the selected weights.
//
// Run directory (as the classification trainer's, train/trainer.h):
//   config.yaml, dataset.json, checkpoints/last.safetensors (model + optimizer + state),
//   checkpoints/best.safetensors, model.safetensors (selected weights, config in its metadata),
//   metrics.jsonl (one line per epoch and per logged step), summary.json (history, val and test).
// All files are written atomically. Resuming (--resume) is not supported for retrieval runs yet.
#pragma once

#include "mmfuse/train/trainer.h"

namespace mmfuse::retrieval {

/// Whether `request` (its config with overrides, or the resumed run's) is a retrieval run.
bool is_retrieval_request(const train::TrainRequest& request);

/// Trains a retrieval run. Throws Error/ConfigError/InputError with clear messages; on a NaN/Inf
/// loss stops with an Error naming the last good checkpoint.
train::TrainResult run_retrieval_training(const train::TrainRequest& request);

}  // namespace mmfuse::retrieval
