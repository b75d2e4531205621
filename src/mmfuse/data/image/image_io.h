// Image reading: encoded files (PNG/JPEG/BMP/TIFF/WebP... whatever OpenCV decodes) and IDX items,
// to float32 pixels in [0, 1] with the configured channels, and resizing.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include <opencv2/core.hpp>

#include "mmfuse/core/limits.h"
#include "mmfuse/data/image/idx.h"
#include "mmfuse/data/sample.h"

namespace mmfuse::data::image {

/// How pixels are brought to a common form.
struct ReadOptions {
  /// 1 (gray, ITU-R 601 luma 0.299 R + 0.587 G + 0.114 B) or 3 (RGB).
  int channels = 3;
  /// RGB in [0, 1] that transparent pixels are composited over; nullopt drops alpha instead.
  std::optional<std::array<float, 3>> background = std::array<float, 3>{1.f, 1.f, 1.f};
  /// Largest width * height decoded; checked from the header before decoding (limits.h).
  int64_t max_pixels = InputLimits{}.max_image_pixels;
};

/// Pixel values to [0, 1]: 8-bit / 255, 16-bit / 65535; float images and IDX values of the other
/// dtypes (int8, int16, int32, float32, float64) are taken as they are.
/// `image`: H x W with 1-4 channels (gray, gray+alpha, color, color+alpha), color in OpenCV's
/// BGR order, or RGB when `rgb_order`. Returns H x W x `opt.channels` float32, RGB order.
cv::Mat to_float_pixels(const cv::Mat& image, const ReadOptions& opt, bool rgb_order = false);

/// Decodes an encoded image file (8- or 16-bit, gray/RGB/RGBA). Throws InputError naming `path`
/// when it cannot be read or decoded (corrupt, truncated, not an image) or when its header claims
/// more than `opt.max_pixels` pixels (refused before decoding).
cv::Mat decode_image_file(const std::string& path, const ReadOptions& opt);

/// decode_image_file on the bytes of an encoded file already in memory; `path` names it in
/// messages.
cv::Mat decode_image_bytes(const std::string& bytes, const std::string& path,
                           const ReadOptions& opt);

/// The image `ref` names (from `ref.bytes` when set): a whole file, or item `ref.index` of an IDX
/// file (read through `idx`). Returns H x W x channels float32, RGB order.
cv::Mat read_image(const ImageRef& ref, const ReadOptions& opt, IdxCache& idx);

/// Resizes to `height` x `width`: INTER_AREA when shrinking both sides, INTER_LINEAR otherwise;
/// returns `image` itself when the size already matches.
cv::Mat resize_image(const cv::Mat& image, int height, int width);

}  // namespace mmfuse::data::image
