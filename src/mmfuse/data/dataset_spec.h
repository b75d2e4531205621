// The dataset spec (YAML), parsed once into a typed struct. Example (configs/data/avmnist.yaml):
//
//   splits:                       # manifests per split, relative to the spec's folder
//     train: [../../../shared/data/avmnist/train.jsonl]
//     val: [../../../shared/data/avmnist/val.jsonl]
//   modalities:                   # each: `field` (manifest key, default: the modality name),
//     image: {pipeline: image, size: [28, 28], channels: 1}   # `pipeline` (registered name,
//     audio: {pipeline: audio, features: avmnist_spectrogram} # default: the modality name)
//   targets:                      # type: class | regression; required (default true)
//     digit: {field: label, type: class}   # classes: FILE fixes the class names and order
//   cache: {dir: cache/avmnist, ram_mb: 0, dtype: float16}   # all optional
//   skip_bad: true                # skip and list bad samples (false: the first one throws)
//   id_field: id
//   video_field: video            # a key holding a clip: modalities with `field: video` take its
//                                 # frames (image, pipeline video_frames), sound track, subtitles
//   folds: {k: 5, fold: 0, seed: 0, stratify: label}   # k-fold cross-validation (FoldSpec;
//                                 # `mmfuse cv` sets it)
//
// A pipeline receives its modality's node minus `field` and `pipeline` (paths in it resolve
// against the spec's folder, PipelineContext::base_dir).
#pragma once

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "mmfuse/core/config.h"
#include "mmfuse/data/manifest.h"

namespace mmfuse::data {

enum class Split : int { train = 0, val = 1, test = 2 };
inline constexpr std::array<Split, 3> kAllSplits = {Split::train, Split::val, Split::test};
std::string_view to_string(Split s);
/// Throws UsageError listing the known names.
Split split_from_string(std::string_view name);

enum class CacheDtype { float16, float32 };

struct CacheSpec {
  std::string dir;  ///< resolved; default `<spec folder>/.mmfuse-cache/<spec name>`
  /// Features also kept in RAM (LRU), at most this many MB (0: none, the default: the disk cache
  /// and the OS page cache serve features as fast; see feature_cache.h).
  int64_t ram_mb = 0;
  CacheDtype dtype = CacheDtype::float16;  ///< on-disk precision of float features
  bool enabled = true;                     ///< false: no disk cache (RAM budget still applies)
};

struct ModalitySpec {
  Modality modality = Modality::image;
  std::string field;     ///< manifest key
  std::string pipeline;  ///< registered pipeline name
  ConfigNode options;    ///< the modality's node minus `field` and `pipeline`
};

/// k-fold cross-validation over the train and val manifests pooled: a sample's fold is a hash of
/// (seed, its id) modulo k, so it does not depend on the manifests' order or on which split listed
/// it. With `stratify: TARGET` (a class target) each class's samples, ordered by that hash, are
/// dealt to the folds in turn, so every fold holds each class's share and the folds' sizes differ
/// by at most one (scikit-learn's StratifiedKFold). With k > 0 the train split is every fold but
/// `fold` (the preprocessing is fitted on it) and the val split is `fold`; test stays as listed.
struct FoldSpec {
  int64_t k = 0;  ///< 0: no folds, the splits as listed
  int64_t fold = 0;
  uint64_t seed = 0;
  std::string stratify;  ///< class target whose classes every fold shares ("" = none)

  /// The fold of the sample with this id, in [0, k), without stratification.
  int64_t fold_of(const std::string& id) const;
  /// The fold of each of `samples` (stratified when `stratify` is set; a sample without the
  /// target counts as a class of its own).
  std::vector<int64_t> assign(const std::vector<Sample>& samples) const;
  /// Reads `folds: {k, fold, seed, stratify}` (null: none); errors name the key and what to write.
  static FoldSpec parse(const ConfigNode& node);
};

struct DatasetSpec {
  std::string path;                                ///< spec file ("" when parsed from text)
  std::string base_dir;                            ///< folder relative paths resolve against
  std::string yaml;                                ///< the spec's text, saved with fitted state
  std::array<std::vector<std::string>, 3> splits;  ///< resolved manifest paths by Split
  std::array<std::optional<ModalitySpec>, kNumModalities> modalities;  ///< by index_of
  std::vector<TargetSpec> targets;
  CacheSpec cache;
  bool skip_bad = true;
  std::string id_field = "id";
  InputLimits limits;  ///< `limits:` (core/limits.h); defaults when absent
  /// `data_root:` (resolved): every manifest path must resolve inside it; "" = unconfined.
  std::string data_root;
  /// Manifest key of a video clip that expands into frames/audio/subtitles ("" = none).
  std::string video_field;
  FoldSpec folds;

  static DatasetSpec load(const std::string& path);
  /// `source` names the text in messages; `base_dir` is where relative paths resolve.
  static DatasetSpec parse(const std::string& yaml_text, const std::string& source,
                           const std::string& base_dir);

  const std::vector<std::string>& manifests(Split s) const {
    return splits[static_cast<std::size_t>(s)];
  }
  bool uses(Modality m) const { return modalities[index_of(m)].has_value(); }
  /// Whether there is a val split: val manifests, or folds (one of them is val).
  bool has_val_split() const { return !manifests(Split::val).empty() || folds.k > 0; }
  /// The modalities in use, in the fixed Modality order.
  std::vector<Modality> used_modalities() const;
  ManifestSchema schema() const;
  /// This spec with `folds` replaced, also in its YAML text (a saved dataset keeps them).
  DatasetSpec with_folds(const FoldSpec& folds) const;
  /// This spec with the val manifests moved into the training split and no val split (the
  /// final refit on every labelled sample, `mmfuse cv --refit`); also in its YAML text. Throws
  /// UsageError when the spec has folds (they already pool train and val).
  DatasetSpec with_val_pooled() const;
};

}  // namespace mmfuse::data
