// Losses of the translation objectives. Targets are features in [0, 1].
#pragma once

#include <torch/torch.h>

#include "mmfuse/models/translator.h"

namespace mmfuse::train {

/// Reconstruction loss, mean over elements: logits/target [B, C, H, W].
torch::Tensor reconstruction_loss(const torch::Tensor& logits, const torch::Tensor& target,
                                  models::ReconLoss kind);

/// KL(N(mu, exp(logvar)) || N(0, 1)), summed over the latent and averaged over the batch,
/// divided by the number of target elements so it is on the scale of the reconstruction loss.
torch::Tensor kl_divergence(const torch::Tensor& mu, const torch::Tensor& logvar,
                            int64_t target_elements);

/// Discriminator loss: BCE(real -> 1) + BCE(fake -> 0) on score logits [B].
torch::Tensor discriminator_loss(const torch::Tensor& real_scores,
                                 const torch::Tensor& fake_scores);

/// Generator's adversarial loss (non-saturating): BCE(fake -> 1).
torch::Tensor generator_adversarial_loss(const torch::Tensor& fake_scores);

}  // namespace mmfuse::train
