// Unstructured magnitude pruning, as torch.nn.utils.prune's l1_unstructured (per layer) and
// global_unstructured (all layers together): the entries of Linear and Conv weights with the
// smallest |w| are set to zero, exactly llround(amount * n) of them, and masks keep them at zero
// while fine-tuning (apply_masks after every optimizer step).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

namespace mmfuse::optimize {

/// Which entries compete for pruning: those of each weight on its own, or all weights at once.
enum class PruneScope { layer, global };

using NamedWeights = std::vector<std::pair<std::string, torch::Tensor>>;

/// Every Linear and Conv1d/2d/3d weight of `module`, by its dotted name
/// ("encoders.image.net.0.weight"), in module order. Biases and norms are not pruned.
NamedWeights prunable_weights(const torch::nn::Module& module);

/// Masks (1: keep, 0: pruned; the weights' shapes, dtypes and devices) that prune exactly
/// llround(amount * n) entries of each weight (layer) or of all weights together (global): the
/// smallest |w| first, ties broken by position so the count is exact whatever the values.
/// Requires: 0 <= amount < 1 (UsageError otherwise).
std::map<std::string, torch::Tensor> magnitude_masks(const NamedWeights& weights, double amount,
                                                     PruneScope scope);

/// weight *= mask for every mask (no autograd). Throws Error naming a mask whose weight is
/// missing or has another shape.
void apply_masks(torch::nn::Module& module, const std::map<std::string, torch::Tensor>& masks);

/// Zeros of one weight (or of all, `name` "overall").
struct LayerSparsity {
  std::string name;
  std::vector<int64_t> shape;
  int64_t zeros = 0;
  int64_t total = 0;
  double sparsity() const { return total > 0 ? static_cast<double>(zeros) / total : 0.0; }
};

/// Zeros of every prunable weight of `module`, then the overall figure (last, "overall").
std::vector<LayerSparsity> weight_sparsity(const torch::nn::Module& module);

}  // namespace mmfuse::optimize
