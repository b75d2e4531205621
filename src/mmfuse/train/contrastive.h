// Symmetric contrastive loss between two modalities' embeddings (InfoNCE, CLIP-style).
//
//   logits = exp(log_scale).clamp(max) * a @ b^T            [B, B]
//   loss   = (CE(logits, targets) + CE(logits^T, targets^T)) / 2
//
// targets: row i's positive is column i (pairs), or, with labels, a uniform distribution over the
// columns with the same label (several positives per row: a spoken "7" and every image of a 7 in
// the batch).
#pragma once

#include <torch/torch.h>

namespace mmfuse::train {

struct InfoNceOptions {
  /// Upper bound of the logit scale exp(log_scale) (CLIP: 100), against collapse to one-hots.
  TORCH_ARG(double, max_scale) = 100.0;
};

/// a [B, D], b [B, D] (L2-normalised rows), log_scale [] -> scalar loss.
/// labels: undefined (pairs) or [B] int64 (rows with equal labels are positives of each other).
/// Requires: B >= 1, equal shapes. Throws c10::Error otherwise.
torch::Tensor info_nce(const torch::Tensor& a, const torch::Tensor& b,
                       const torch::Tensor& log_scale, const torch::Tensor& labels = {},
                       const InfoNceOptions& options = {});

}  // namespace mmfuse::train
