// Structured pruning of a supervised model: whole output channels of convolutions and output
// units of Linear layers are removed (the lowest L1 or L2 norm of their weights first), with the
// next layer's input channels and the BatchNorm between them sliced to match, so the dense
// kernels themselves shrink. The new widths go into the run config (lenet `widths`, mlp
// encoder `hidden`, mlp head `hidden`), from which load_run rebuilds the smaller model.
//
// Widths that are contracts stay: each encoder's output (the fusion's input), each head's
// outputs, the fusion and the high-level block; the plan names them. A block with parameters
// that structured pruning cannot slice gets an Error naming it.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "mmfuse/core/config.h"

namespace mmfuse::optimize {

/// How an output channel/unit is scored: the L1 or L2 norm of its weights (lowest removed first).
enum class ChannelNorm { l1, l2 };

/// One layer whose outputs were pruned.
struct PrunedLayer {
  std::string name;           ///< module name ("encoders.image.net.0")
  std::string norm;           ///< the batch norm sliced with it ("encoders.image.net.1"), or ""
  int64_t before = 0;         ///< output channels/units before
  std::vector<int64_t> kept;  ///< indices kept (ascending), of `before`
};

struct StructuredPlan {
  std::vector<PrunedLayer> layers;
  /// What keeps its width and why ("encoders.image.net.12: the encoder's output ...").
  std::vector<std::string> kept;
  /// The run config with the new widths (a copy; the source config is not modified).
  ConfigNode config;
  /// The smaller model's parameters and buffers by name (what load_module takes).
  std::map<std::string, torch::Tensor> state;
};

/// Plans structured pruning of `model` (a supervised MultimodalModel built from `run_config`):
/// of each prunable layer, llround(amount * outputs) outputs go (at least one stays).
/// Supported: lenet and mlp encoders, mlp heads (linear heads and blocks without parameters are
/// kept). Requires: 0 <= amount < 1 (UsageError). Throws Error naming an unsupported block.
StructuredPlan plan_structured_pruning(const torch::nn::Module& model, const ConfigNode& run_config,
                                       double amount, ChannelNorm norm = ChannelNorm::l1);

}  // namespace mmfuse::optimize
