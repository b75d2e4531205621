// Resource limits on untrusted input: how large a file, line or image mmfuse agrees to read
// before it allocates anything for it. Each limit is checked from the cheapest place that knows
// the size (an image header, libsndfile's frame count, a manifest line's length) and a refusal is
// an InputError naming the file (and manifest line and field) plus the limit and how to raise it.
//
// The data-file limits live in a dataset spec under `limits:` (all optional):
//
//   limits:
//     max_image_pixels: 100000000     # width * height of one image, checked from its header
//     max_audio_seconds: 3600         # one audio file's duration (frames / rate, from its header)
//     max_audio_bytes: 536870912      # one audio file's size in bytes (512 MiB)
//     max_text_bytes: 16777216        # one text (inline or {file: ...}) in bytes (16 MiB)
//     max_manifest_line_bytes: 1048576  # one manifest line (1 MiB)
//
// Weight files and configs have fixed, documented caps (safetensors.h, config.h).
#pragma once

#include <cstdint>
#include <string>

namespace mmfuse {

class ConfigNode;

struct InputLimits {
  /// Pixels (width * height) of one encoded image, read from its header before decoding.
  int64_t max_image_pixels = 100'000'000;
  /// Duration of one audio file in seconds (header frames / sample rate), before decoding.
  double max_audio_seconds = 3600.0;
  /// Size of one encoded audio file in bytes.
  int64_t max_audio_bytes = int64_t{512} << 20;
  /// Bytes of one text field (inline string or decoded {file: ...}).
  int64_t max_text_bytes = int64_t{16} << 20;
  /// Bytes of one manifest line (JSONL object or CSV row).
  int64_t max_manifest_line_bytes = int64_t{1} << 20;

  /// The `limits:` map of a dataset spec (null: the defaults). Unknown keys and values <= 0 are
  /// ConfigErrors naming the key.
  static InputLimits parse(const ConfigNode& node);
};

/// "... over the limit of N (`limits.KEY` in the dataset spec; raise it there to accept larger
/// inputs)": the tail every limit error ends with.
std::string limit_hint(int64_t limit, const std::string& key);

}  // namespace mmfuse
