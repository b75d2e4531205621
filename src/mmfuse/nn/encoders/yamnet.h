// YAMNet (AudioSet, Plakal & Ellis 2020): a MobileNetV1 body over 0.96 s log-mel patches, with the
// checkpoint's own names (layers.1 ... layers.27, each a convolution with bias; odd layers full
// convolutions, layer 1 3x3 and the others 1x1, even layers 3x3 depthwise), ReLU6 after every
// layer and TensorFlow "SAME" padding (same_padding.h). Input: the log-mel frames of the audio
// pipeline's `features: yamnet` (data/audio/yamnet_frontend.h); the encoder cuts them into
// patches of 96 frames with a hop of 48, embeds each (mean over its final map, 1024-d), and pools
// the clip as the mean over its patches. The 521 AudioSet scores are the checkpoint's `fc`, loaded
// into a linear head (configs/audioset/yamnet.yaml).
#pragma once

#include <memory>
#include <vector>

#include "mmfuse/nn/encoders/encoder.h"

namespace mmfuse::encoders {

struct YamnetOptions {
  explicit YamnetOptions(int64_t bands) : bands_(bands) {}
  /// Mel bands per frame (64 for the pretrained weights).
  TORCH_ARG(int64_t, bands);
  /// Frames per patch (96 = 0.96 s at the 10 ms hop).
  TORCH_ARG(int64_t, patch_frames) = 96;
  /// Frames between patch starts (48 = 0.48 s).
  TORCH_ARG(int64_t, patch_hop) = 48;
  /// Channel multiplier (1.0: the pretrained 3.2 M-parameter body, 1024-d embeddings).
  TORCH_ARG(double, width) = 1.0;
};

class YamnetImpl : public torch::nn::Cloneable<YamnetImpl>, public Encoder {
 public:
  static constexpr const char* kName = "yamnet";
  static constexpr const char* kDescription =
      "YAMNet: MobileNetV1 over 0.96 s log-mel patches (TF SAME padding), mean over patches";

  explicit YamnetImpl(YamnetOptions options) : options(std::move(options)) { reset(); }

  /// Keys: patch_frames, patch_hop, width. Input: frames [T, bands] (variable length).
  static std::shared_ptr<YamnetImpl> create(const EncoderContext& ctx, const ConfigNode& cfg);

  void reset() override;

  /// frames [B, T, F] -> patches [B, P, patch_frames, F], P = 1 + (max(T, patch_frames) -
  /// patch_frames) / patch_hop (frames zero-padded up to one patch).
  torch::Tensor patches(const torch::Tensor& frames) const;

  /// patches [N, 1, patch_frames, F] -> embeddings [N, D]
  torch::Tensor embed_patches(const torch::Tensor& patches);

  /// frames [B, T, F] (lengths [B] optional) -> pooled [B, D] (mean over each clip's patches),
  /// tokens [B, P, D] (one per patch) with token_mask.
  nn::Encoded encode(const data::ModalityBatch& input) override;

  int64_t out_dim() const override { return channels_.back(); }
  int64_t token_dim() const override { return channels_.back(); }

  YamnetOptions options;
  torch::nn::ModuleDict layers{nullptr};

 private:
  std::vector<int64_t> channels_;  ///< output channels of layers 1..27
};
TORCH_MODULE(Yamnet);

}  // namespace mmfuse::encoders
