// Image dimensions read from an encoded file's header, without decoding it, so a file that claims
// 100,000 x 100,000 pixels is refused before any pixel buffer is allocated. Knows PNG (IHDR),
// JPEG (the first SOFn marker), BMP, GIF and WebP (VP8, VP8L, VP8X); other formats (TIFF, ...)
// give nullopt and are bounded after decoding and by OpenCV's own cap (CV_IO_MAX_IMAGE_PIXELS).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace mmfuse::data::image {

struct ImageSize {
  int64_t width = 0;
  int64_t height = 0;
};

/// Width and height from the header of `bytes`, or nullopt for an unknown format or a header too
/// short to hold them. Never reads past `bytes`.
std::optional<ImageSize> encoded_image_size(std::string_view bytes);

}  // namespace mmfuse::data::image
