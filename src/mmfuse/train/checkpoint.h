// Training checkpoints: ONE safetensors file written atomically, holding
//   the model's parameters and buffers under their module names,
//   "__optimizer__"                the model optimizer's state (torch's own archive bytes, U8),
//   "__companion__.<name>.<param>" each companion module's tensors (a GAN's discriminator, ...),
//   "__optimizer__.<name>"         each companion optimizer's state,
//   "__rng_cpu__", "__rng_cpu__.<rank>"   the CPU RNG state of process 0 and of the others,
//   metadata "mmfuse_state"         the trainer state (JSON).
// A crash mid-write leaves the previous checkpoint intact; a resumed run restores everything and
// continues exactly.
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "mmfuse/train/task.h"

namespace mmfuse::train {

/// What a checkpoint holds besides the trainer state.
struct CheckpointParts {
  torch::nn::Module* model = nullptr;
  torch::optim::Optimizer* optimizer = nullptr;
  std::vector<Companion> companions;
};

/// This process's CPU RNG state.
torch::Tensor cpu_rng_state();

/// Writes `parts` + `state` to `path` atomically. `rng_states`: the CPU RNG state of every
/// process in rank order (empty: this process's own, as process 0).
void save_checkpoint(const std::string& path, const CheckpointParts& parts,
                     const nlohmann::json& state,
                     const std::vector<torch::Tensor>& rng_states = {});

/// Restores `parts` and the RNG state of process `rank` (process 0's when the checkpoint has
/// none for `rank`: it was written by fewer processes); returns the trainer state.
/// Throws Error naming the file when it is unreadable or does not fit the parts.
nlohmann::json load_checkpoint(const std::string& path, const CheckpointParts& parts, int rank = 0);

/// Only the trainer state of a checkpoint.
nlohmann::json read_checkpoint_state(const std::string& path);

}  // namespace mmfuse::train
