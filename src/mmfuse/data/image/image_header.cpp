#include "mmfuse/data/image/image_header.h"

#include <cstring>

namespace mmfuse::data::image {

namespace {

uint32_t header_be16(const unsigned char* p) {
  return static_cast<uint32_t>(p[0]) << 8 | p[1];
}
uint32_t header_be32(const unsigned char* p) {
  return header_be16(p) << 16 | header_be16(p + 2);
}
uint32_t header_le16(const unsigned char* p) {
  return static_cast<uint32_t>(p[1]) << 8 | p[0];
}
uint32_t header_le24(const unsigned char* p) {
  return static_cast<uint32_t>(p[2]) << 16 | header_le16(p);
}
uint32_t header_le32(const unsigned char* p) {
  return header_le16(p + 2) << 16 | header_le16(p);
}

bool starts_with_bytes(std::string_view b, std::size_t at, const char* magic, std::size_t n) {
  return b.size() >= at + n && std::memcmp(b.data() + at, magic, n) == 0;
}

// JPEG: walks the marker segments up to the first start-of-frame (SOF0..SOF15 except DHT 0xC4,
// JPG 0xC8 and DAC 0xCC), whose payload is [precision][height u16][width u16].
std::optional<ImageSize> jpeg_size(std::string_view b) {
  const auto* p = reinterpret_cast<const unsigned char*>(b.data());
  std::size_t i = 2;
  while (i + 4 <= b.size()) {
    if (p[i] != 0xFF) return std::nullopt;
    const unsigned char marker = p[i + 1];
    if (marker == 0xFF) {  // fill byte
      ++i;
      continue;
    }
    if (marker == 0xD8 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) {
      i += 2;  // markers without a length
      continue;
    }
    const std::size_t len = header_be16(p + i + 2);
    if (len < 2) return std::nullopt;
    const bool sof =
        marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (sof) {
      if (i + 9 > b.size()) return std::nullopt;
      return ImageSize{header_be16(p + i + 7), header_be16(p + i + 5)};
    }
    if (marker == 0xDA || marker == 0xD9) return std::nullopt;  // scan data before any frame
    i += 2 + len;
  }
  return std::nullopt;
}

std::optional<ImageSize> webp_size(std::string_view b) {
  const auto* p = reinterpret_cast<const unsigned char*>(b.data());
  if (starts_with_bytes(b, 12, "VP8X", 4) && b.size() >= 30) {
    return ImageSize{int64_t{header_le24(p + 24)} + 1, int64_t{header_le24(p + 27)} + 1};
  }
  if (starts_with_bytes(b, 12, "VP8L", 4) && b.size() >= 25) {
    const uint32_t bits = header_le32(p + 21);
    return ImageSize{int64_t{bits & 0x3FFF} + 1, int64_t{(bits >> 14) & 0x3FFF} + 1};
  }
  if (starts_with_bytes(b, 12, "VP8 ", 4) && b.size() >= 30) {
    return ImageSize{header_le16(p + 26) & 0x3FFF, header_le16(p + 28) & 0x3FFF};
  }
  return std::nullopt;
}

}  // namespace

std::optional<ImageSize> encoded_image_size(std::string_view b) {
  const auto* p = reinterpret_cast<const unsigned char*>(b.data());
  if (starts_with_bytes(b, 0, "\x89PNG\r\n\x1a\n", 8)) {
    if (b.size() < 24 || !starts_with_bytes(b, 12, "IHDR", 4)) return std::nullopt;
    return ImageSize{header_be32(p + 16), header_be32(p + 20)};
  }
  if (b.size() >= 3 && p[0] == 0xFF && p[1] == 0xD8 && p[2] == 0xFF) return jpeg_size(b);
  if (starts_with_bytes(b, 0, "BM", 2) && b.size() >= 26) {
    const uint32_t dib = header_le32(p + 14);
    if (dib == 12) return ImageSize{header_le16(p + 18), header_le16(p + 20)};
    if (b.size() < 26) return std::nullopt;
    const auto w = static_cast<int32_t>(header_le32(p + 18));
    const auto h = static_cast<int32_t>(header_le32(p + 22));
    return ImageSize{w < 0 ? -int64_t{w} : w, h < 0 ? -int64_t{h} : h};
  }
  if ((starts_with_bytes(b, 0, "GIF87a", 6) || starts_with_bytes(b, 0, "GIF89a", 6)) &&
      b.size() >= 10) {
    return ImageSize{header_le16(p + 6), header_le16(p + 8)};
  }
  if (starts_with_bytes(b, 0, "RIFF", 4) && starts_with_bytes(b, 8, "WEBP", 4)) return webp_size(b);
  return std::nullopt;
}

}  // namespace mmfuse::data::image
