// The class-consistency classifier of a translator's target modality (AC-GAN's auxiliary
// classifier, `translate.consistency_weight`): trained alongside the translator on real targets,
// it must recognise the source's class in the generated target.
//
//   translate:
//     consistency_weight: 1.0
//     aux_channels: 32                     # default: a ConvDiscriminator with class outputs
//     aux_encoder: {type: lenet, channels: 6, extra_blocks: 3}   # or any registered encoder
//                                          # of the target modality, then a Linear to the classes
//
// x [B, C, H, W] in [0, 1] -> logits [B, classes]
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "mmfuse/core/config.h"
#include "mmfuse/core/modality.h"
#include "mmfuse/models/translate_networks.h"
#include "mmfuse/nn/encoders/encoder.h"

namespace mmfuse::models {

struct TargetClassifierOptions {
  TargetClassifierOptions(Modality target, std::vector<int64_t> in_shape, int64_t classes)
      : target_(target), in_shape_(std::move(in_shape)), classes_(classes) {}
  TORCH_ARG(Modality, target);                ///< the modality classified
  TORCH_ARG(std::vector<int64_t>, in_shape);  ///< [C, H, W]
  TORCH_ARG(int64_t, classes);
  TORCH_ARG(int64_t, channels) = 32;  ///< the convolutional classifier's first channels
  /// `model.encoders`-style config of a registered encoder; null: the convolutional classifier.
  TORCH_ARG(ConfigNode, encoder);
};

class TargetClassifierImpl : public torch::nn::Cloneable<TargetClassifierImpl> {
 public:
  /// Throws ConfigError (at the encoder config's path) for an unknown encoder type, Error for
  /// fewer than 2 classes.
  explicit TargetClassifierImpl(TargetClassifierOptions options);
  void reset() override;

  /// x [B, C, H, W] -> [B, classes]
  torch::Tensor logits(const torch::Tensor& x);

  TargetClassifierOptions options;

 private:
  ConvDiscriminator conv_{nullptr};
  encoders::EncoderBlock encoder_;
  torch::nn::Linear head_{nullptr};
};
TORCH_MODULE(TargetClassifier);

}  // namespace mmfuse::models
