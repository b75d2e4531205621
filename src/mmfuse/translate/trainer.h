// Training of a translator: `mmfuse translate train --config C [overrides] --out RUN_DIR`.
// The `train:` section is the classifier trainer's (epochs, batch_size, optimizer, schedule,
// grad_clip_norm, limit_train, seed, threads, loader_threads, select); the weights of the epoch
// with the lowest validation reconstruction error are kept.
#pragma once

#include <nlohmann/json.hpp>

#include "mmfuse/train/trainer.h"

namespace mmfuse::translate {

/// Trains; returns summary.json's content. Samples lacking the source or target are skipped.
/// Throws Error on NaN/Inf loss (the best weights so far stay in checkpoints/best.safetensors).
nlohmann::json run_translate_training(const train::TrainRequest& request);

}  // namespace mmfuse::translate
