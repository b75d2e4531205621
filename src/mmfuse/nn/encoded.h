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

/// A CNN's feature map [B, C, H, W] as an encoding: pooled = global average [B, C], tokens = one
/// per cell [B, H*W, C].
inline Encoded encode_feature_map(const torch::Tensor& map, const torch::Tensor& present) {
  Encoded out;
  out.pooled = map.mean({2, 3});
  out.tokens = map.flatten(2).transpose(1, 2);
  out.present = present;
  return out;
}

}  // namespace mmfuse::nn
