// Training-time image augmentation: one random affine warp (rotation, scale, translation and a
// padded random crop, composed into a single cv::warpAffine) and additive Gaussian noise.
#pragma once

#include <torch/torch.h>

#include "mmfuse/core/config.h"
#include "mmfuse/data/pipeline.h"

namespace mmfuse::data::image {

struct AugmentOptions {
  /// Rotation angle drawn uniformly from [-rotation_deg, rotation_deg] degrees.
  double rotation_deg = 0.0;
  /// Zoom factor drawn uniformly from [scale_lo, scale_hi] (1 = unchanged).
  double scale_lo = 1.0, scale_hi = 1.0;
  /// Shift drawn uniformly from [-translate, translate] times the width (x) and height (y).
  double translate = 0.0;
  /// Random crop of the original size from the image padded by this many pixels per side (an
  /// integer shift in [-crop_padding, crop_padding] on each axis).
  int crop_padding = 0;
  /// Standard deviation of the Gaussian noise added to every value (in [0, 1] pixel units).
  double noise_std = 0.0;

  bool warps() const {
    return rotation_deg > 0 || scale_lo != 1.0 || scale_hi != 1.0 || translate > 0 ||
           crop_padding > 0;
  }
  bool enabled() const { return warps() || noise_std > 0; }

  /// Parses `{rotation_deg, scale: [lo, hi], translate, crop_padding, noise_std}` (null: none).
  static AugmentOptions parse(const ConfigNode& cfg);
};

/// features [C, H, W] float -> augmented [C, H, W]. Pixels the warp brings in from outside repeat
/// the border (so a white or black background stays so). Deterministic for a given `rng` state.
torch::Tensor augment_image(const torch::Tensor& features, const AugmentOptions& opt, Rng& rng);

}  // namespace mmfuse::data::image
