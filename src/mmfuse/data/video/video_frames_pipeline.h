// The "video_frames" data pipeline (modality image): K frames of a clip, each through the image
// path (RGB -> channels -> resize -> [0, 1]; the same warp for every frame of a clip, fresh noise
// per frame; normalisation as the image pipeline). Output: [K, C, H, W] float32.
//
// Config: the image pipeline's keys (channels, size, background, normalize, mean, std, augment)
// plus
//   frames: 8       # K, the frames per clip (a clip with fewer repeats its last frame)
//   fps: 0          # 0: K frames at the centres of K equal spans of the clip; > 0: every 1/fps s
//   start_s: 0      # seconds skipped at the start
// A manifest's video object may set fps and start_s per clip; its `frames` must equal K.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "mmfuse/data/image/image_pipeline.h"
#include "mmfuse/data/pipeline.h"
#include "mmfuse/data/pipeline_registry.h"
#include "mmfuse/data/video/video_reader.h"

namespace mmfuse::data::video {

struct VideoFramesOptions {
  FrameSampling sampling;
  image::ImageOptions image;

  /// Parses the config above; errors name the config path.
  static VideoFramesOptions parse(const ConfigNode& cfg);
};

class VideoFramesPipeline : public ModalityPipeline {
 public:
  static constexpr const char* kName = "video_frames";
  static constexpr const char* kDescription =
      "video clips (MP4/MKV/WebM/AVI/MOV) -> K sampled frames [K, C, H, W] in [0, 1]";
  static std::shared_ptr<VideoFramesPipeline> create(const PipelineContext& ctx,
                                                     const ConfigNode& cfg);

  explicit VideoFramesPipeline(VideoFramesOptions options);

  Modality modality() const override { return Modality::image; }
  bool cacheable() const override { return true; }
  std::string cache_key() const override;

  void fit(const FitContext& ctx) override;
  /// A clip (ImageRef with `video`, or a path with a video extension) -> [K, C, H, W] in [0, 1].
  /// Throws InputError naming the file (and stream) for a bad clip.
  torch::Tensor extract(const Field& field) const override;
  torch::Tensor augment(const Field& field, const torch::Tensor& features, Rng& rng) const override;
  torch::Tensor finalize(const torch::Tensor& features) const override;
  /// [K, C, H, W] (-1 for H and W when no size is configured).
  std::vector<int64_t> item_shape() const override;

  nlohmann::json state() const override;
  void load_state(const nlohmann::json& state) override;

  const VideoFramesOptions& options() const { return opt_; }

 private:
  VideoFramesOptions opt_;
  image::ImagePipeline image_;  ///< per-frame conversion, statistics and normalisation
};

/// `frames` (H x W x 3 uint8 RGB) -> [K, C, H, W] float32 in [0, 1] through the image path,
/// padded to `k` frames by repeating the last. Requires: at least one frame.
torch::Tensor frames_to_tensor(const std::vector<VideoFrame>& frames, int k,
                               const image::ImageOptions& opt);

}  // namespace mmfuse::data::video
