// The memory report of a training run: the process peak (VmHWM) and the parts mmfuse knows the
// size of, for summary.json ("memory"), metrics.jsonl (epoch lines' "peak_rss_mb") and the report.
#pragma once

#include <cstdint>

#include <torch/torch.h>

#include "mmfuse/core/memory.h"
#include "mmfuse/data/dataset.h"

namespace mmfuse::train {

/// Bytes of an optimizer's per-parameter state (SGD momentum, Adam/AdamW moments, RMSprop
/// averages); 0 before the first step.
int64_t optimizer_state_bytes(const torch::optim::Optimizer& optimizer);

/// Bytes of a module's parameters and of their gradients (when allocated).
int64_t parameter_bytes(const torch::nn::Module& module);
int64_t gradient_bytes(const torch::nn::Module& module);

/// Now's process memory with the parts: parameters, gradients, optimizer state, the RAM feature
/// cache (bytes held now) and the loader queue's peak.
MemoryReport training_memory(const torch::nn::Module& module,
                             const torch::optim::Optimizer& optimizer, const data::Dataset& dataset,
                             int64_t loader_queue_peak_bytes, const MemoryBudget& budget);

}  // namespace mmfuse::train
