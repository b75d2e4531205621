// The built-in training tasks, one file each (registered in builtin.cpp).
#pragma once

#include <memory>

#include "mmfuse/train/task.h"

namespace mmfuse::train {

/// Heads for class, multilabel and regression targets (task: supervised).
std::unique_ptr<TrainTask> make_supervised_task(const RunConfig& config,
                                                const data::Dataset& dataset);
/// Two towers trained with a symmetric contrastive loss (task: retrieval).
std::unique_ptr<TrainTask> make_retrieval_task(const RunConfig& config,
                                               const data::Dataset& dataset);
/// A cross-modal translator: AE, VAE or conditional GAN with its critics (task: translate).
std::unique_ptr<TrainTask> make_translate_task(const RunConfig& config,
                                               const data::Dataset& dataset);

}  // namespace mmfuse::train
