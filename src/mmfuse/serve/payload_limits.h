// Caps checked from an encoded file's header, before the file is decoded: an image's pixel count
// and a sound's duration. A PNG that claims 100,000 x 100,000 pixels or a WAV that claims 4 GB
// of samples is refused from its first bytes (PayloadTooLarge, 413), so nothing a client sends
// makes the decoder allocate more than the caps allow.
//
// Only formats whose header gives the size are taken: PNG, JPEG and BMP images; WAV and FLAC
// sounds. Anything else is an InputError (400) naming the field and the formats accepted.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "mmfuse/serve/options.h"

namespace mmfuse::serve {

struct ImageHeader {
  std::string format;  ///< "png", "jpeg", "bmp"
  int64_t width = 0;
  int64_t height = 0;
};

struct AudioHeader {
  std::string format;  ///< "wav", "flac"
  int64_t frames = 0;
  int64_t sample_rate = 0;
  double seconds() const { return sample_rate > 0 ? static_cast<double>(frames) / sample_rate : 0; }
};

/// The size an image header declares. Throws InputError (field `field`) for an unknown format
/// or a header too short or inconsistent to read.
ImageHeader probe_image(std::string_view bytes, const std::string& field);
/// The length a sound header declares. Throws InputError as probe_image.
AudioHeader probe_audio(std::string_view bytes, const std::string& field);

/// probe_image, then PayloadTooLarge when width x height > limits.max_image_pixels.
void check_image(std::string_view bytes, const std::string& field, const Limits& limits);
/// probe_audio, then PayloadTooLarge when the duration > limits.max_audio_seconds, InputError for
/// a sample rate outside 1 kHz .. 384 kHz.
void check_audio(std::string_view bytes, const std::string& field, const Limits& limits);
/// PayloadTooLarge when the text has more than limits.max_text_bytes bytes.
void check_text(std::string_view text, const std::string& field, const Limits& limits);

}  // namespace mmfuse::serve
