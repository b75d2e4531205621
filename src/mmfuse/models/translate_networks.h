// The generator's decoder and the GAN's discriminator for cross-modal translation: both work on
// a target "image" [C, H, W] (a digit image, or a spectrogram seen as a 1-channel image) with
// H and W multiples of 7 * 2^k (28 = 7*4, 112 = 7*16).
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

namespace mmfuse::models {

struct ConvDecoderOptions {
  ConvDecoderOptions(int64_t in_dim, std::vector<int64_t> out_shape)
      : in_dim_(in_dim), out_shape_(std::move(out_shape)) {}
  TORCH_ARG(int64_t, in_dim);                  ///< size of the conditioning vector
  TORCH_ARG(std::vector<int64_t>, out_shape);  ///< [C, H, W]
  TORCH_ARG(int64_t, channels) = 64;           ///< channels at the 7x7 stage, halved per doubling
};

/// z [B, in_dim] -> Linear -> [B, channels, 7, 7] -> k x (ConvTranspose 4x4 stride 2, BN, ReLU)
/// -> Conv 3x3 -> logits [B, C, H, W] (sigmoid gives values in [0, 1]).
class ConvDecoderImpl : public torch::nn::Cloneable<ConvDecoderImpl> {
 public:
  explicit ConvDecoderImpl(ConvDecoderOptions options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& z);  // [B, in_dim] -> [B, C, H, W] logits

  ConvDecoderOptions options;

 private:
  torch::nn::Linear fc{nullptr};
  torch::nn::Sequential up{nullptr};
  int64_t start_h_ = 7, start_w_ = 7;
};
TORCH_MODULE(ConvDecoder);

struct ConvDiscriminatorOptions {
  ConvDiscriminatorOptions(std::vector<int64_t> in_shape, int64_t cond_dim)
      : in_shape_(std::move(in_shape)), cond_dim_(cond_dim) {}
  TORCH_ARG(std::vector<int64_t>, in_shape);  ///< [C, H, W]
  TORCH_ARG(int64_t, cond_dim);               ///< conditioning vector size (0: unconditional)
  TORCH_ARG(int64_t, channels) = 32;          ///< first conv's channels, doubled per stage
  TORCH_ARG(int64_t, outputs) = 1;            ///< scores per sample: 1, or classes (logits())
};

/// Conditional discriminator with a projection term (Miyato & Koyama 2018):
/// x [B, C, H, W] -> k x (Conv 4x4 stride 2, LeakyReLU 0.2) -> global mean -> h [B, F];
/// score = w.h + <proj(cond), h>  -> [B] logits (real > 0).
class ConvDiscriminatorImpl : public torch::nn::Cloneable<ConvDiscriminatorImpl> {
 public:
  explicit ConvDiscriminatorImpl(ConvDiscriminatorOptions options);
  void reset() override;
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cond);  // -> [B]
  /// Unconditional scores x [B, C, H, W] -> [B, outputs]: with `outputs` = classes, the network
  /// is a classifier of the target modality (AC-GAN's auxiliary classifier).
  torch::Tensor logits(const torch::Tensor& x);

  ConvDiscriminatorOptions options;

 private:
  torch::nn::Sequential body{nullptr};
  torch::nn::Linear out{nullptr}, proj{nullptr};
};
TORCH_MODULE(ConvDiscriminator);

/// Number of 2x up/downsampling stages between 7 and `size` (size = 7 * 2^k); throws Error
/// naming the size otherwise.
int64_t doublings_from_7(int64_t size);

}  // namespace mmfuse::models
