// Task losses with missing targets masked out: cross-entropy (class weights, label smoothing),
// MSE, L1 and binary cross-entropy (multi-label). Configured per target under `train.losses`:
//
//   train:
//     losses:
//       digit: {type: cross_entropy, label_smoothing: 0.1, class_weights: [1, 2, ...]}
//       value: {type: l1}
//
// Defaults by task kind: classification -> cross_entropy, regression -> mse, multilabel -> bce.
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

#include "mmfuse/core/config.h"
#include "mmfuse/nn/heads/head.h"

namespace mmfuse::train {

enum class LossKind { cross_entropy, mse, l1, bce };

struct LossOptions {
  LossKind kind = LossKind::cross_entropy;
  double label_smoothing = 0.0;       ///< cross_entropy: in [0, 1)
  std::vector<double> class_weights;  ///< cross_entropy: one per class, or empty

  /// `cfg` is the target's node under train.losses (may be null: defaults for `task`).
  static LossOptions from_config(const ConfigNode& cfg, heads::TaskKind task, int64_t classes);
};

/// Mean loss over the samples whose target is known.
///  cross_entropy: output [B, C] logits, target [B] int64 (-1 = unknown).
///  mse / l1:      output [B, K], target [B, K] (or [B]) float (NaN = unknown).
///  bce:           output [B, C] logits, target [B, C] in {0, 1} (NaN = unknown).
/// With no known target in the batch the loss is 0 (still connected to the graph), never NaN.
torch::Tensor task_loss(const LossOptions& options, const torch::Tensor& output,
                        const torch::Tensor& target);

}  // namespace mmfuse::train
