#include "mmfuse/train/translate_objectives.h"

namespace mmfuse::train {

namespace F = torch::nn::functional;

torch::Tensor reconstruction_loss(const torch::Tensor& logits, const torch::Tensor& target,
                                  models::ReconLoss kind) {
  switch (kind) {
    case models::ReconLoss::bce:
      return F::binary_cross_entropy_with_logits(logits, target);
    case models::ReconLoss::mse:
      return F::mse_loss(torch::sigmoid(logits), target);
    case models::ReconLoss::l1:
      return F::l1_loss(torch::sigmoid(logits), target);
  }
  return {};
}

torch::Tensor kl_divergence(const torch::Tensor& mu, const torch::Tensor& logvar,
                            int64_t target_elements) {
  // 0.5 * sum(mu^2 + var - 1 - logvar) per sample.
  auto kl = 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).sum(1);  // [B]
  return kl.mean() / static_cast<double>(std::max<int64_t>(1, target_elements));
}

torch::Tensor discriminator_loss(const torch::Tensor& real_scores,
                                 const torch::Tensor& fake_scores) {
  return F::binary_cross_entropy_with_logits(real_scores, torch::ones_like(real_scores)) +
         F::binary_cross_entropy_with_logits(fake_scores, torch::zeros_like(fake_scores));
}

torch::Tensor generator_adversarial_loss(const torch::Tensor& fake_scores) {
  return F::binary_cross_entropy_with_logits(fake_scores, torch::ones_like(fake_scores));
}

}  // namespace mmfuse::train
