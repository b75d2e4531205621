// What an encoder produces for one modality and what fusions consume.
#pragma once

#include <torch/torch.h>

namespace mmfuse::nn {

struct Encoded {
  /// [B, D] pooled representation. Rows of absent samples hold whatever the encoder computed
  /// from zeros; fusions must consult `present` rather than trust them.
  torch::Tensor pooled;
  /// [B, T, Dt] token sequence (feature-map cells, frames, words), or undefined.
  torch::Tensor tokens;
  /// [B, T] bool, true for real tokens (false = padding), or undefined when all are real.
  torch::Tensor token_mask;
  /// [B] bool: whether the sample has this modality.
  torch::Tensor present;
};

}  // namespace mmfuse::nn
