// The "image" data pipeline: decode (file or IDX item) -> channels -> resize [H, W] -> [0, 1]
// (extract, cached) -> random affine + noise (augment, training only) -> (x - mean) / std
// (finalize). Output: [C, H, W] float32.
//
// Config (all optional):
//   channels: 3              # 1 (gray) or 3 (RGB)
//   size: [64, 64]           # [H, W]; absent: keep each image's own size (then all must agree)
//   background: [1, 1, 1]    # RGB in [0, 1] under transparent pixels, or `drop` to ignore alpha
//   normalize: none          # none | fixed (mean/std given) | fit (per channel, training split)
//   mean: [0.5], std: [0.5]  # with `fixed`: one value, or one per channel
//   augment: {rotation_deg: 10, scale: [0.9, 1.1], translate: 0.1, crop_padding: 4,
//             noise_std: 0.02}
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "mmfuse/core/config.h"
#include "mmfuse/data/image/image_augment.h"
#include "mmfuse/data/image/image_io.h"
#include "mmfuse/data/pipeline.h"
#include "mmfuse/data/pipeline_registry.h"

namespace mmfuse::data::image {

enum class Normalize { none, fixed, fit };

/// "none", "fixed", "fit".
std::string to_string(Normalize n);
/// Inverse of to_string; an unknown name fails at `cfg`'s path listing the known ones.
Normalize normalize_from_string(const std::string& name, const ConfigNode& cfg);

struct ImageOptions {
  ReadOptions read;
  int height = 0, width = 0;  ///< 0: keep the image's size
  Normalize normalize = Normalize::none;
  std::vector<float> mean, stddev;  ///< with Normalize::fixed: one value per channel
  AugmentOptions augment;

  /// Parses the config above; errors name the config path.
  static ImageOptions parse(const ConfigNode& cfg);
};

class ImagePipeline : public ModalityPipeline {
 public:
  static constexpr const char* kName = "image";
  static constexpr const char* kDescription =
      "images (PNG/JPEG/BMP/... or IDX items) -> [C, H, W] in [0, 1], optionally normalised";
  static std::shared_ptr<ImagePipeline> create(const PipelineContext& ctx, const ConfigNode& cfg);

  explicit ImagePipeline(ImageOptions options);

  Modality modality() const override { return Modality::image; }
  bool cacheable() const override { return true; }
  std::string cache_key() const override;

  /// With normalize: fit, per-channel mean and (population) std over every training pixel; a
  /// zero std becomes 1.
  void fit(const FitContext& ctx) override;
  /// ImageRef -> [C, H, W] float32 in [0, 1]. Throws InputError naming the file.
  torch::Tensor extract(const Field& field) const override;
  torch::Tensor augment(const Field& field, const torch::Tensor& features, Rng& rng) const override;
  /// [C, H, W] -> (x - mean[c]) / std[c]. Requires: fitted (or loaded) when normalize: fit.
  torch::Tensor finalize(const torch::Tensor& features) const override;
  /// [C, H, W] (-1 for H and W when no size is configured).
  std::vector<int64_t> item_shape() const override;

  nlohmann::json state() const override;
  void load_state(const nlohmann::json& state) override;

  const ImageOptions& options() const { return opt_; }
  /// Per-channel statistics finalize() applies (empty with normalize: none or before fit()).
  const std::vector<float>& mean() const { return mean_; }
  const std::vector<float>& stddev() const { return std_; }

 private:
  void set_stats(std::vector<float> mean, std::vector<float> std);

  ImageOptions opt_;
  std::vector<float> mean_, std_;
  torch::Tensor mean_t_, std_t_;  ///< [C, 1, 1]
  std::shared_ptr<IdxCache> idx_ = std::make_shared<IdxCache>();
};

}  // namespace mmfuse::data::image
