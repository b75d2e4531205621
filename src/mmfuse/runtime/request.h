// One inference request held in memory: encoded image or audio bytes, text, numbers — any subset
// of a run's modalities. What a server receives and `mmfuse predict` reads from files.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mmfuse/core/modality.h"
#include "mmfuse/data/sample.h"

namespace mmfuse::runtime {

/// An encoded file held in memory (PNG/JPEG/BMP/... image; WAV/FLAC/OGG sound).
struct EncodedFile {
  std::shared_ptr<const std::string> bytes;
  std::string name;  ///< names it in messages (an upload's file name, "body")

  /// The bytes of the file at `path` (named by its path). Throws InputError naming a missing or
  /// unreadable file.
  static EncodedFile read(const std::string& path);
  static EncodedFile of(std::string bytes, std::string name);
};

/// One sample. Modalities left out are absent for the model, as a missing modality in a manifest.
struct Request {
  std::optional<EncodedFile> image;
  std::optional<EncodedFile> audio;
  std::optional<std::string> text;  ///< UTF-8
  std::optional<std::vector<float>> tabular;
  std::string id;  ///< names the request in errors ("request <index + 1>" when empty)

  bool has(Modality m) const;
  /// The given modalities in Modality order.
  std::vector<Modality> modalities() const;
  /// The raw field of modality `m` (Requires: has(m)), as a manifest line would give it.
  /// Throws InputError (field set to the modality) for text that is not valid UTF-8 and
  /// numbers that are not finite.
  data::Field field(Modality m) const;
};

/// "1,2.5,-3" -> {1, 2.5, -3}; throws UsageError naming the bad item.
std::vector<double> parse_numbers(const std::string& text);

}  // namespace mmfuse::runtime
