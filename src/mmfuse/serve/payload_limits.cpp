#include "mmfuse/serve/payload_limits.h"

#include <cstdio>

#include "mmfuse/core/error.h"
#include "mmfuse/serve/errors.h"

namespace mmfuse::serve {

namespace {

uint32_t be(std::string_view b, std::size_t at, int n) {
  uint32_t v = 0;
  for (int i = 0; i < n; ++i) v = (v << 8) | static_cast<unsigned char>(b[at + i]);
  return v;
}

uint32_t le(std::string_view b, std::size_t at, int n) {
  uint32_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(b[at + i]);
  return v;
}

[[noreturn]] void bad_header(const std::string& field, const std::string& reason) {
  throw InputError(reason).at("", 0, field);
}

bool starts(std::string_view b, std::string_view prefix) {
  return b.substr(0, prefix.size()) == prefix;
}

ImageHeader probe_png(std::string_view b, const std::string& field) {
  if (b.size() < 24 || b.substr(12, 4) != "IHDR")
    bad_header(field, "truncated PNG header (no IHDR)");
  return {"png", be(b, 16, 4), be(b, 20, 4)};
}

ImageHeader probe_jpeg(std::string_view b, const std::string& field) {
  std::size_t at = 2;
  while (at + 4 <= b.size()) {
    if (static_cast<unsigned char>(b[at]) != 0xFF)
      bad_header(field, "corrupt JPEG header (no marker)");
    const auto marker = static_cast<unsigned char>(b[at + 1]);
    if (marker == 0xFF) {  // fill byte
      ++at;
      continue;
    }
    const uint32_t length = be(b, at + 2, 2);
    const bool sof =
        marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
    if (sof) {
      if (at + 9 > b.size()) break;
      return {"jpeg", be(b, at + 7, 2), be(b, at + 5, 2)};
    }
    if (length < 2) bad_header(field, "corrupt JPEG header (segment length < 2)");
    at += 2 + length;
  }
  bad_header(field, "truncated JPEG header (no frame header with the image size)");
}

ImageHeader probe_bmp(std::string_view b, const std::string& field) {
  if (b.size() < 26) bad_header(field, "truncated BMP header");
  const auto w = static_cast<int32_t>(le(b, 18, 4));
  const auto h = static_cast<int32_t>(le(b, 22, 4));
  return {"bmp", w < 0 ? -static_cast<int64_t>(w) : w, h < 0 ? -static_cast<int64_t>(h) : h};
}

AudioHeader probe_wav(std::string_view b, const std::string& field) {
  if (b.size() < 12 || b.substr(8, 4) != "WAVE")
    bad_header(field, "not a WAV file (no WAVE header)");
  int64_t block_align = 0, rate = 0;
  std::size_t at = 12;
  while (at + 8 <= b.size()) {
    const std::string_view id = b.substr(at, 4);
    const uint32_t size = le(b, at + 4, 4);
    if (id == "fmt ") {
      if (at + 20 > b.size()) break;
      rate = le(b, at + 12, 4);
      block_align = le(b, at + 20, 2);
    } else if (id == "data") {
      if (block_align <= 0 || rate <= 0)
        bad_header(field, "WAV header: no valid fmt chunk before data");
      return {"wav", static_cast<int64_t>(size) / block_align, rate};
    }
    at += 8 + static_cast<std::size_t>(size) + (size & 1);
  }
  bad_header(field, "truncated WAV header (no data chunk)");
}

AudioHeader probe_flac(std::string_view b, const std::string& field) {
  if (b.size() < 26 || (static_cast<unsigned char>(b[4]) & 0x7F) != 0) {
    bad_header(field, "truncated FLAC header (no STREAMINFO)");
  }
  const int64_t rate = (static_cast<int64_t>(be(b, 18, 2)) << 4) | (be(b, 20, 1) >> 4);
  const int64_t frames = (static_cast<int64_t>(be(b, 21, 1) & 0x0F) << 32) | be(b, 22, 4);
  if (frames == 0)
    bad_header(field, "FLAC stream without a sample count; send a WAV or a complete FLAC");
  return {"flac", frames, rate};
}

std::string megapixels(double pixels) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", pixels / 1e6);
  return buf;
}

}  // namespace

ImageHeader probe_image(std::string_view b, const std::string& field) {
  if (starts(b, "\x89PNG\r\n\x1a\n")) return probe_png(b, field);
  if (starts(b, "\xFF\xD8")) return probe_jpeg(b, field);
  if (starts(b, "BM")) return probe_bmp(b, field);
  bad_header(field, "unknown image format (" + std::to_string(b.size()) +
                        " bytes); send a PNG, JPEG or BMP file");
}

AudioHeader probe_audio(std::string_view b, const std::string& field) {
  if (starts(b, "RIFF")) return probe_wav(b, field);
  if (starts(b, "fLaC")) return probe_flac(b, field);
  bad_header(field, "unknown audio format (" + std::to_string(b.size()) +
                        " bytes); send a WAV or FLAC file");
}

void check_image(std::string_view bytes, const std::string& field, const Limits& limits) {
  const ImageHeader h = probe_image(bytes, field);
  if (h.width <= 0 || h.height <= 0) {
    bad_header(field, "the " + h.format + " header declares an empty image (" +
                          std::to_string(h.width) + " x " + std::to_string(h.height) + ")");
  }
  const double pixels = static_cast<double>(h.width) * static_cast<double>(h.height);
  if (pixels > static_cast<double>(limits.max_image_pixels)) {
    throw PayloadTooLarge("field '" + field + "': the image is " + std::to_string(h.width) + " x " +
                          std::to_string(h.height) + " pixels (" + megapixels(pixels) +
                          " MP), above the cap of " + megapixels(limits.max_image_pixels) +
                          " MP (--max-image-mp); send a smaller image");
  }
}

void check_audio(std::string_view bytes, const std::string& field, const Limits& limits) {
  const AudioHeader h = probe_audio(bytes, field);
  if (h.sample_rate < 1000 || h.sample_rate > 384000) {
    bad_header(field, "the " + h.format + " header declares a sample rate of " +
                          std::to_string(h.sample_rate) + " Hz; expected 1000 .. 384000 Hz");
  }
  if (h.seconds() > limits.max_audio_seconds) {
    throw PayloadTooLarge("field '" + field + "': the sound lasts " +
                          std::to_string(static_cast<int64_t>(h.seconds())) +
                          " s, above the cap of " +
                          std::to_string(static_cast<int64_t>(limits.max_audio_seconds)) +
                          " s (--max-audio-s); send a shorter recording");
  }
}

void check_text(std::string_view text, const std::string& field, const Limits& limits) {
  if (static_cast<int64_t>(text.size()) > limits.max_text_bytes) {
    throw PayloadTooLarge("field '" + field + "': the text has " + std::to_string(text.size()) +
                          " bytes, above the cap of " + std::to_string(limits.max_text_bytes) +
                          " (--max-text-kb); send a shorter text");
  }
}

}  // namespace mmfuse::serve
