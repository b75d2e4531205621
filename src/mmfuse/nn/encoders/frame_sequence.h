// Frame-sequence encoder for video clips (data pipeline `video_frames`, items [K, C, H, W]): any
// registered image encoder applied to every frame (pretrained weights included), then a temporal
// stage over the K frame vectors: mean or max pooling, or a registered sequence encoder (gru,
// lstm, transformer) reading them as frames [B, K, D].
//
//   encoder:
//     type: frame_sequence
//     frame: {type: lenet, extra_blocks: 2}    # or {type: mobilenet_v2, pretrained: ...}
//     temporal: mean                           # mean | max | gru | lstm | transformer, or
//                                              # {type: gru, hidden_size: 64, ...}
#pragma once

#include <memory>
#include <string>

#include "mmfuse/nn/encoders/encoder.h"

namespace mmfuse::encoders {

enum class TemporalPooling { mean, max, sequence };

struct FrameSequenceOptions {
  FrameSequenceOptions(int64_t frames, EncoderContext frame_context, ConfigNode frame_config)
      : frames_(frames),
        frame_context_(std::move(frame_context)),
        frame_config_(std::move(frame_config)) {}
  /// K, the frames per clip.
  TORCH_ARG(int64_t, frames);
  /// What the per-frame encoder sees: modality image, input shape [C, H, W].
  TORCH_ARG(EncoderContext, frame_context);
  /// The per-frame encoder's config (with its `type`).
  TORCH_ARG(ConfigNode, frame_config);
  /// How the K frame vectors become one: mean, max, or the `temporal_config` sequence encoder.
  TORCH_ARG(TemporalPooling, temporal) = TemporalPooling::mean;
  /// With TemporalPooling::sequence: a registered sequence encoder's config (gru, transformer...).
  TORCH_ARG(ConfigNode, temporal_config);
};

class FrameSequenceEncoderImpl : public torch::nn::Cloneable<FrameSequenceEncoderImpl>,
                                 public Encoder {
 public:
  static constexpr const char* kName = "frame_sequence";
  static constexpr const char* kDescription =
      "video frames [K, C, H, W]: a per-frame image encoder, then mean/max pooling or a GRU, "
      "LSTM or transformer over the frames";

  explicit FrameSequenceEncoderImpl(FrameSequenceOptions options);

  /// Keys: frame (an encoder config, required), temporal (a name or an encoder config).
  /// Requires: input shape [K, C, H, W].
  static std::shared_ptr<FrameSequenceEncoderImpl> create(const EncoderContext& ctx,
                                                          const ConfigNode& cfg);

  void reset() override;

  /// data [B, K, C, H, W] -> pooled [B, D], tokens [B, K, Dt] (one per frame).
  nn::Encoded encode(const data::ModalityBatch& input) override;
  int64_t out_dim() const override;
  int64_t token_dim() const override;

  FrameSequenceOptions options;

 private:
  EncoderBlock frame_;
  EncoderBlock temporal_;
};

TORCH_MODULE(FrameSequenceEncoder);

}  // namespace mmfuse::encoders
