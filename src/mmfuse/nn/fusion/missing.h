// Shared handling of absent modalities for fusions that combine pooled vectors.
#pragma once

#include <torch/torch.h>

namespace mmfuse::fusion {

/// pooled: [B, D], present: [B] bool, placeholder: [D] -> [B, D] where absent rows are replaced
/// by the learned placeholder (so the fusion sees a trained "missing" code, not a zero vector).
inline torch::Tensor fill_missing(const torch::Tensor& pooled, const torch::Tensor& present,
                                  const torch::Tensor& placeholder) {
  if (!present.defined()) return pooled;
  return torch::where(present.unsqueeze(1), pooled, placeholder.unsqueeze(0).expand_as(pooled));
}

}  // namespace mmfuse::fusion
