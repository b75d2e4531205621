// A dataset: the spec, one fitted pipeline per used modality (fixed Modality order), label maps
// of class targets and widths of regression targets, the feature cache, and the samples of each
// split. Everything fitted comes from the training split and is saved to / loaded from one JSON
// file, so inference reproduces the preprocessing exactly.
//
//   auto ds = Dataset::create(DatasetSpec::load("configs/data/avmnist.yaml"));  // reads + fits
//   ds->save("run/dataset.json");
//   auto val = ds->read_split(Split::val);
//   Loader loader(ds, val, LoaderOptions().batch_size(40));
//   ...
//   auto again = Dataset::load("run/dataset.json");  // no refit: same preprocessing
#pragma once

#include <array>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mmfuse/data/dataset_spec.h"
#include "mmfuse/data/feature_cache.h"
#include "mmfuse/data/label_map.h"
#include "mmfuse/data/manifest.h"
#include "mmfuse/data/pipeline_registry.h"

namespace mmfuse::data {

struct DatasetOptions {
  /// Where pipelines come from; null = data::pipeline_registry().
  const PipelineRegistry* registry = nullptr;
  /// Overrides the spec's cache folder ("" = no disk cache).
  std::optional<std::string> cache_dir;
  /// Caps the RAM feature cache below the spec's cache.ram_mb (bytes; from a global memory
  /// budget). The smaller of the two applies.
  std::optional<int64_t> ram_cache_cap_bytes;
  /// Overrides the spec's skip_bad.
  std::optional<bool> skip_bad;
  /// Threads of the extraction pass over the training split before fitting.
  int threads = 2;
};

/// The samples of one split, and the ones skipped as bad (skip_bad mode).
struct SampleSet {
  Split split = Split::train;
  std::vector<Sample> samples;
  std::vector<BadSample> bad;
};

class Dataset {
 public:
  /// Reads the training split, extracts its features once (through the cache; samples that fail
  /// are skipped and listed, or the first throws in strict mode), fits label maps, regression
  /// widths and pipelines. Ensures: every used modality has a fitted pipeline.
  static std::shared_ptr<Dataset> create(DatasetSpec spec, DatasetOptions options = {});
  /// Rebuilds a fitted dataset from save()'s file (the spec is taken from the file).
  static std::shared_ptr<Dataset> load(const std::string& state_file, DatasetOptions options = {});
  /// Writes state() atomically.
  void save(const std::string& state_file) const;
  /// {"format", "version", "spec": {path, base_dir, yaml}, "pipelines": {modality: {name,
  ///  cache_key, state}}, "targets": {name: {type, field, classes | width}}}
  nlohmann::json state() const;

  const DatasetSpec& spec() const { return spec_; }
  bool skip_bad() const { return skip_bad_; }
  /// Used modalities in the fixed Modality order.
  const std::vector<Modality>& modalities() const { return modalities_; }
  bool uses(Modality m) const { return pipelines_[index_of(m)] != nullptr; }
  /// The fitted pipeline (e.g. `pipeline(Modality::text).state()["vocab_size"]`). Throws Error
  /// when the modality is not used.
  const ModalityPipeline& pipeline(Modality m) const;
  std::vector<int64_t> item_shape(Modality m) const { return pipeline(m).item_shape(); }

  const std::vector<TargetSpec>& targets() const { return spec_.targets; }
  const TargetSpec& target(const std::string& name) const;
  /// Class target -> its label map (fitted on train). Throws Error for other names.
  const LabelMap& label_map(const std::string& target) const;
  int64_t num_classes(const std::string& target) const { return label_map(target).size(); }
  /// Regression target -> K, the width of its [B, K] tensor.
  int64_t regression_width(const std::string& target) const;

  /// The training samples the dataset was fitted on (bad ones removed); after load(): read anew.
  std::shared_ptr<const SampleSet> train_samples() const;
  /// Reads a split's manifests (anew on each call). A class label unseen in training or a
  /// regression value of another width is a bad sample (skipped and listed, or thrown).
  std::shared_ptr<const SampleSet> read_split(Split split) const;
  /// Reads any manifest file (JSONL, or CSV by its extension) with the spec's fields, checked
  /// against the fitted label maps and widths. With skip_bad false (the default) the first bad
  /// line, or a label unseen in training, throws an InputError naming the file, line and field;
  /// with true such samples are skipped and listed in `bad`.
  std::shared_ptr<const SampleSet> read_manifest_file(const std::string& path,
                                                      bool skip_bad = false) const;
  /// A manifest to read a chunk at a time with read_chunk() (a pass that should not hold the
  /// whole file: evaluation).
  ManifestReader open_manifest_file(const std::string& path, bool skip_bad = false) const;
  /// The next at most `max_samples` samples of `reader`, checked as read_manifest_file() checks
  /// them (bad ones in `bad` with skip_bad, else the first throws); null once it is exhausted.
  std::shared_ptr<const SampleSet> read_chunk(ManifestReader& reader, std::size_t max_samples,
                                              bool skip_bad = false) const;

  /// extract() through the cache. Throws InputError located at the sample's manifest:line and
  /// field (a c10::Error from the pipeline becomes one too). Requires: s.has(m).
  torch::Tensor features(const Sample& s, Modality m) const;
  /// features -> augment (when `rng`, training) -> finalize: one item for collate().
  torch::Tensor item(const Sample& s, Modality m, Rng* rng) const;
  /// item() with the features made by `extract` instead of features() (no cache): robustness
  /// evaluation re-extracts corrupted inputs this way. Errors are located as in features().
  torch::Tensor item_from(const Sample& s, Modality m,
                          const std::function<torch::Tensor()>& extract, Rng* rng) const;

  FeatureCache& cache() const { return *cache_; }

 private:
  Dataset(DatasetSpec spec, const DatasetOptions& options);
  void build_pipelines(const PipelineRegistry& registry);
  void fit(int threads);
  /// Label maps (the classes seen in `samples`, or the classes file) and regression widths
  /// (the first value's size).
  void fit_targets(const std::vector<Sample>& samples);
  /// Each modality's pipeline over the samples that have it.
  void fit_pipelines(const std::vector<Sample>& samples);
  /// Throws InputError when a sample's targets do not fit the fitted label maps / widths.
  void check_targets(const Sample& s) const;
  /// The samples of `data` whose targets check out; the others fail, or join `bad` when skip_bad.
  std::shared_ptr<SampleSet> checked(ManifestData data, Split split, bool skip_bad) const;
  /// The split's manifests read, or with spec().folds the train + val manifests pooled and cut
  /// into the split's folds (bad samples go with the train split).
  ManifestData read_split_manifests(Split split) const;
  const std::string& field_name(Modality m) const;
  /// Runs `fn`, locating its InputError (and c10::Error, as a failed `step`) at the sample.
  torch::Tensor located(const Sample& s, Modality m, const char* step,
                        const std::function<torch::Tensor()>& fn) const;

  DatasetSpec spec_;
  bool skip_bad_ = true;
  std::vector<Modality> modalities_;
  std::array<std::shared_ptr<ModalityPipeline>, kNumModalities> pipelines_;
  std::map<std::string, LabelMap> label_maps_;
  std::map<std::string, int64_t> widths_;
  std::unique_ptr<FeatureCache> cache_;
  std::shared_ptr<const SampleSet> train_;
};

}  // namespace mmfuse::data
