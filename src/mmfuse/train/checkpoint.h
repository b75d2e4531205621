// Training checkpoints: ONE safetensors file written atomically, holding the model's parameters
// and buffers under their module names, the optimizer state ("__optimizer__", torch's own archive
// bytes as U8), the CPU RNG state ("__rng_cpu__") and the trainer state as JSON metadata
// ("mmfuse_state"). A crash mid-write leaves the previous checkpoint intact; a resumed run
// restores everything and continues exactly.
#pragma once

#include <string>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

namespace mmfuse::train {

struct CheckpointState {
  nlohmann::json state;  ///< trainer state: epoch, step, loader position, schedule, history...
};

/// Writes model + optimizer + RNG + `state` to `path` atomically.
void save_checkpoint(const std::string& path, const torch::nn::Module& model,
                     const torch::optim::Optimizer& optimizer, const nlohmann::json& state);

/// Restores model, optimizer and RNG from `path`; returns the trainer state.
/// Throws Error naming the file when it is unreadable or does not fit the model.
nlohmann::json load_checkpoint(const std::string& path, torch::nn::Module& model,
                               torch::optim::Optimizer& optimizer);

/// Only the trainer state of a checkpoint (cheap: reads the header).
nlohmann::json read_checkpoint_state(const std::string& path);

}  // namespace mmfuse::train
