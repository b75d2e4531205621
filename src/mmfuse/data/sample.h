// One manifest sample before any decoding: its id, where it came from, one raw field per
// present modality, and its targets.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "mmfuse/core/modality.h"

namespace mmfuse::data {

/// An image: a whole file (PNG/JPEG/BMP/...) when `index < 0`, else item `index` of an IDX file
/// (gzipped or not). `path` is already resolved against the manifest's folder.
/// Frames of a video clip (data/video): how the manifest asked to sample it. Unset values take
/// the `video_frames` pipeline's settings.
struct VideoSampling {
  int frames = 0;                 ///< K; 0: the pipeline's
  std::optional<double> fps;      ///< frames per second; 0: K spread uniformly
  std::optional<double> start_s;  ///< seconds skipped at the start
};

struct ImageRef {
  std::string path;
  int64_t index = -1;
  /// The encoded file itself when it is already in memory (a request body, an upload); `path`
  /// then only names it in messages, and the feature cache is not used.
  std::shared_ptr<const std::string> bytes;
  /// Set when `path` is a video clip whose frames are the image input (pipeline `video_frames`).
  std::optional<VideoSampling> video;
};

/// Background noise mixed into speech (see ../shared/data/README.md, AV-MNIST): read `path` from
/// `offset_s` seconds (wrapping), scale so that 10*log10(sum speech^2 / sum (g*noise)^2) = snr_db.
struct NoiseSpec {
  std::string path;
  double offset_s = 0.0;
  double snr_db = 0.0;
};

/// An audio file (WAV/FLAC/OGG), optionally with noise to mix in.
struct AudioRef {
  std::string path;
  std::optional<NoiseSpec> noise;
  /// The encoded file in memory (as ImageRef::bytes); `path` names it in messages.
  std::shared_ptr<const std::string> bytes;
};

/// text: UTF-8 string (validated when read); tabular: numbers (finite, validated when read).
using Field = std::variant<ImageRef, AudioRef, std::string, std::vector<float>>;

/// A target value: a class (name or integer, kept as its string form) or numbers (regression).
using TargetValue = std::variant<std::string, std::vector<float>>;

struct Sample {
  std::string id;
  std::string manifest;  ///< manifest file the sample came from (for error messages)
  int64_t line = 0;      ///< 1-based line in that manifest
  std::array<std::optional<Field>, kNumModalities> fields;  ///< by index_of(Modality)
  std::map<std::string, TargetValue> targets;               ///< by target name

  const std::optional<Field>& field(Modality m) const { return fields[index_of(m)]; }
  bool has(Modality m) const { return fields[index_of(m)].has_value(); }
};

}  // namespace mmfuse::data
