// Cross-modal translation model: a source modality's encoder (any registered encoder) -> a latent
// code (plain, variational, or with GAN noise) -> a convolutional decoder producing the target
// modality's features [C, H, W] (a digit image, or a log-spectrogram seen as an image).
//
//   data: ../data/avmnist.yaml
//   task: translate
//   translate:
//     source: audio            # the modality read
//     target: image            # the modality generated
//     objective: vae           # ae | vae | gan
//     latent: 64               # latent code size
//     noise: 16                # gan: noise appended to the code (0: none)
//     decoder_channels: 64
//     recon: bce               # bce | mse | l1 (targets in [0, 1])
//     recon_weight: 1.0
//     kl_weight: 0.001         # vae
//     adv_weight: 0.05         # gan: generator's adversarial term
//     disc_channels: 32        # gan
//     disc_lr: 2.0e-4          # gan: discriminator's Adam lr (beta1 0.5)
//     class_weight: 0.0        # > 0: also predict the data's class from the code (cross-entropy),
//                              # which makes the code carry the class (label-aware translation)
//     consistency_weight: 0.0  # > 0: a classifier of real targets must see the class (AC-GAN)
//     output_basis: 0          # K > 0: outputs on the targets' first K principal components
//     select: mse              # the best epoch: lowest val MSE, or `recognition` (how often the
//                              # consistency classifier sees the class in generated val targets)
//   model:
//     encoders:
//       audio: {type: lenet, channels: 6, extra_blocks: 5}
//   train: {epochs: 4, batch_size: 40, optimizer: {type: adam, lr: 1.0e-3}, ...}
#pragma once

#include <string>
#include <vector>

#include <torch/torch.h>

#include "mmfuse/core/config.h"
#include "mmfuse/core/modality.h"
#include "mmfuse/data/batch.h"
#include "mmfuse/models/translate_networks.h"
#include "mmfuse/nn/encoders/encoder.h"

namespace mmfuse::models {

enum class Objective { ae, vae, gan };
enum class ReconLoss { bce, mse, l1 };

struct TranslateConfig {
  Modality source = Modality::audio;
  Modality target = Modality::image;
  Objective objective = Objective::ae;
  int64_t latent = 64;
  int64_t noise = 0;
  int64_t decoder_channels = 64;
  ReconLoss recon = ReconLoss::bce;
  double recon_weight = 1.0;
  double kl_weight = 1e-3;
  double adv_weight = 0.05;
  int64_t disc_channels = 32;
  double disc_lr = 2e-4;
  double class_weight = 0.0;
  /// Class consistency (AC-GAN's auxiliary classifier): a classifier of the target modality,
  /// trained alongside on the real targets, must recognise the source's class in the generated
  /// target; this weighs its cross-entropy in the generator's loss (0: off).
  double consistency_weight = 0.0;
  int64_t aux_channels = 32;  ///< the auxiliary classifier's first conv channels
  /// The auxiliary classifier's encoder (any registered encoder of the target modality); null: a
  /// ConvDiscriminator with class outputs (target_classifier.h).
  ConfigNode aux_encoder;
  /// K > 0: generated targets are projected onto the mean and first K principal components of the
  /// training targets (fitted before training, saved with the model), so the generator cannot
  /// leave the targets' subspace, e.g. to fool the consistency classifier with off-data patterns.
  int64_t output_basis = 0;
  /// The best epoch has the highest val recognition by the consistency classifier (else the
  /// lowest val MSE).
  bool select_recognition = false;

  /// From the `translate:` section; throws ConfigError naming `translate.<key>`.
  static TranslateConfig from_config(const ConfigNode& node);
};

std::string to_string(Objective o);

struct Translation {
  torch::Tensor logits;        ///< [B, C, H, W]; sigmoid -> generated target in [0, 1]
  torch::Tensor code;          ///< [B, latent] (the mean for a VAE): the discriminator's condition
  torch::Tensor mu, logvar;    ///< [B, latent], VAE only
  torch::Tensor class_logits;  ///< [B, classes] when the translator has a class head
};

class TranslatorImpl : public torch::nn::Cloneable<TranslatorImpl> {
 public:
  /// `source_cfg`: the encoder's config (`model.encoders.<source>`); shapes are item shapes;
  /// `classes` > 0 adds the class head on the code (used when config.class_weight > 0).
  TranslatorImpl(TranslateConfig config, ConfigNode source_cfg, std::vector<int64_t> source_shape,
                 std::vector<int64_t> target_shape, int64_t classes = 0);
  void reset() override;

  /// source: the source modality's batch. Training samples the VAE code and GAN noise;
  /// eval uses the VAE mean and zero noise unless `sample` is set.
  Translation forward(const data::ModalityBatch& source, bool sample = false);

  const TranslateConfig& config() const { return config_; }
  const std::vector<int64_t>& target_shape() const { return target_shape_; }

  /// Fits the output basis (config.output_basis > 0) on training targets [N, C, H, W] in [0, 1]:
  /// their mean and first K right singular vectors. Requires N > K.
  void fit_output_basis(const torch::Tensor& targets);
  /// Projects images [B, C, H, W] in [0, 1] onto the fitted basis (identity without one).
  torch::Tensor project(const torch::Tensor& images) const;

 private:
  TranslateConfig config_;
  ConfigNode source_cfg_;
  std::vector<int64_t> source_shape_, target_shape_;
  int64_t classes_ = 0;
  encoders::EncoderBlock encoder_;
  torch::nn::Linear to_code{nullptr}, to_logvar{nullptr}, classify{nullptr};
  ConvDecoder decoder{nullptr};
  torch::Tensor basis_mean_, basis_;  // [D], [K, D] buffers when output_basis > 0
};
TORCH_MODULE(Translator);

}  // namespace mmfuse::models
