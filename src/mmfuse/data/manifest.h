// Manifests: JSONL (one JSON object per line, blank lines skipped) or CSV (header row) -> Samples.
//
// CSV cells (an empty cell is an absent value):
//   image / audio: a path, or a JSON object as in JSONL ({"file": ..., "index": 3})
//   text: the string as is;  tabular: space-separated numbers ("0.5 1 -2")
//   class target: a name or an integer;  regression target: one or space-separated numbers
// Quoted cells follow RFC 4180 ("a, b" and "" for a quote) but may not span lines.
//
// Errors are InputErrors located at manifest:line and field, e.g.
//   `train.jsonl:12: field 'image': expected a path string or {"file", "index"}, got number`
#pragma once

#include <array>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "mmfuse/core/error.h"
#include "mmfuse/core/limits.h"
#include "mmfuse/data/sample.h"

namespace mmfuse::data {

enum class TargetKind { class_label, regression };

/// One target: its name (the key in Sample::targets and Batch::targets) and where it comes from.
struct TargetSpec {
  std::string name;
  std::string field;  ///< manifest key or CSV column
  TargetKind kind = TargetKind::class_label;
  bool required = true;  ///< a sample without it is an error (else: unknown, -1 / NaN)
  /// Class target: a file of class names in index order, one a line (e.g. the 1001 ImageNet
  /// classes of a pretrained classifier); empty: the classes seen in training.
  std::string classes_file;
};

/// What to read from each manifest line.
struct ManifestSchema {
  /// Manifest key per modality (by index_of(Modality)); empty = the modality is not used.
  std::array<std::string, kNumModalities> fields;
  std::vector<TargetSpec> targets;
  std::string id_field = "id";
  /// Line length and text size caps (the dataset spec's `limits:`).
  InputLimits limits;
  /// When set, every file a line names must resolve (symlinks followed) inside this folder.
  std::string data_root;
  /// A manifest key holding a video clip (data/video/video_field.h): a modality whose field is
  /// this key takes the clip's part (image: frames, audio: sound track, text: subtitles).
  std::string video_field;

  /// Every modality under its own name, and an optional class target `label` from `label`.
  static ManifestSchema all_modalities();
};

/// A sample that could not be used, with where and why.
struct BadSample {
  std::string id;  ///< empty when the line could not be parsed far enough
  std::string manifest;
  int64_t line = 0;
  std::string field;
  std::string file;
  std::string reason;

  static BadSample from(const InputError& e, std::string id = {});
  /// `manifest:line: field 'x': file: reason` (the InputError message).
  std::string message() const;
};

struct ManifestData {
  std::vector<Sample> samples;
  std::vector<BadSample> bad;  ///< only filled when skip_bad
};

/// Reads manifests line by line, a chunk of samples at a time: no file is held whole, so a pass
/// that needs one chunk at a time (evaluation) holds that chunk, not the split. Same samples,
/// errors and id checks as read_manifests(), which reads through it.
///
///   ManifestReader reader({"val.jsonl"}, schema, /*skip_bad=*/false);
///   ManifestData chunk;
///   while (reader.read(chunk, 4096)) { use(chunk); chunk = {}; }
class ManifestReader {
 public:
  ManifestReader(std::vector<std::string> paths, ManifestSchema schema, bool skip_bad);
  ~ManifestReader();
  ManifestReader(ManifestReader&&) noexcept;
  ManifestReader& operator=(ManifestReader&&) noexcept;

  /// Appends the next samples, at most `max_samples` of them, to `out.samples` (and the bad
  /// lines met on the way to `out.bad` with skip_bad; else the first throws). Returns false once
  /// every manifest is exhausted and nothing was appended. Ids stay unique across calls.
  bool read(ManifestData& out, std::size_t max_samples);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

/// Reads one manifest (".csv" -> CSV, anything else -> JSONL). With skip_bad, a bad line is
/// recorded in `bad` and skipped; otherwise the first one throws. Ids must be unique.
ManifestData read_manifest(const std::string& path, const ManifestSchema& schema, bool skip_bad);

/// Reads several manifests as one list; ids must be unique across all of them.
ManifestData read_manifests(const std::vector<std::string>& paths, const ManifestSchema& schema,
                            bool skip_bad);

}  // namespace mmfuse::data
