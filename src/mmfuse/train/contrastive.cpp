#include "mmfuse/train/contrastive.h"

namespace mmfuse::train {

namespace {

// Cross-entropy of each row of `logits` [B, B] against the target distribution `p` [B, B].
torch::Tensor soft_cross_entropy(const torch::Tensor& logits, const torch::Tensor& p) {
  return -(p * torch::log_softmax(logits, 1)).sum(1).mean();
}

}  // namespace

torch::Tensor info_nce(const torch::Tensor& a, const torch::Tensor& b,
                       const torch::Tensor& log_scale, const torch::Tensor& labels,
                       const InfoNceOptions& options) {
  TORCH_CHECK(a.dim() == 2 && a.sizes() == b.sizes() && a.size(0) >= 1,
              "info_nce expected two embedding batches [B, D] of the same shape, got ", a.sizes(),
              " and ", b.sizes());
  const auto scale = log_scale.exp().clamp_max(options.max_scale());
  const auto logits = scale * torch::matmul(a, b.t());  // [B, B]
  const int64_t n = a.size(0);
  if (!labels.defined()) {
    const auto target =
        torch::arange(n, torch::TensorOptions().dtype(torch::kLong).device(a.device()));
    return 0.5 * (torch::nn::functional::cross_entropy(logits, target) +
                  torch::nn::functional::cross_entropy(logits.t(), target));
  }
  TORCH_CHECK(labels.dim() == 1 && labels.size(0) == n, "info_nce expected labels [", n, "], got ",
              labels.sizes());
  const auto l = labels.to(a.device());
  auto same = (l.unsqueeze(1) == l.unsqueeze(0)).to(a.dtype());  // [B, B], symmetric
  same = same + torch::eye(n, same.options());                   // a row always has its own pair
  same = same.clamp_max(1.0);
  const auto p = same / same.sum(1, true);
  return 0.5 * (soft_cross_entropy(logits, p) + soft_cross_entropy(logits.t(), p));
}

}  // namespace mmfuse::train
