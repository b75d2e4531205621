// Frozen-feature mode: while an encoder is frozen (train.transfer.freeze covers all of it, for
// the whole run or its first freeze_epochs), its pooled output for each sample is computed once
// and served to every loader of the run (data/precomputed.h), so heads and fusions train without
// decoding the inputs or running the encoder again.
//
// While served, the model's encoder (`encoders.<modality>` of the task model) is swapped for a
// ServedEncoder that holds the same submodules (same parameter names, same tensors, so the
// optimizer and checkpoints do not notice) and passes the rows through as its pooled output; when
// the encoder thaws (freeze_epochs), the original is put back and the modality is decoded again.
//
//   train:
//     transfer:
//       freeze: [encoders.image.]
//       cache_features: true     # the default
//       feature_cache: DIR       # default: <data spec's cache dir>/frozen (also when disabled)
//
// Each row is kept on disk (data::FeatureCache layout, float32, written atomically) under a key
// of the sample's field and file contents, the modality's preprocessing (pipeline settings and
// fitted state) and a fingerprint of the encoder (every parameter and buffer, by name, shape and
// bytes, plus its config node): other weights, options or preprocessing miss. Only samples
// without augmentation are served: a modality whose pipeline augments (an `augment:` section) or
// gets train.feature_noise is never served this way.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mmfuse/core/config.h"
#include "mmfuse/data/dataset.h"
#include "mmfuse/data/precomputed.h"
#include "mmfuse/nn/encoders/encoder.h"
#include "mmfuse/runtime/frozen_memo.h"

namespace mmfuse::train {

struct FrozenFeatureStats {
  int64_t computed = 0;  ///< rows the encoder computed now
  int64_t read = 0;      ///< rows found on disk
};

class FrozenFeatures : public data::PrecomputedEncodings {
 public:
  /// `encoder_options`: the encoder's config (what its weights alone do not fix, e.g. padding).
  /// `dir`: the on-disk store ("" = in memory only).
  FrozenFeatures(std::shared_ptr<const data::Dataset> dataset, Modality modality,
                 encoders::EncoderBlock encoder, const std::string& encoder_options,
                 const std::string& dir);

  /// The sample's key: field, files, preprocessing and the encoder's fingerprint.
  std::string key(const data::Sample& s) const;

  /// Reads or computes (in eval mode, batches of `batch_size`, no grad) the rows of every sample
  /// of `sets` that has the modality. Errors of bad samples propagate, located by the dataset.
  FrozenFeatureStats prepare(const std::vector<std::shared_ptr<const data::SampleSet>>& sets,
                             int64_t batch_size = 64);

  /// The prepared row [D]; a sample prepare() did not see is read from disk or else an Error.
  torch::Tensor row(const data::Sample& s) const override;

  const std::string& encoder_fingerprint() const { return fingerprint_; }

 private:
  void compute_rows(const std::vector<const data::Sample*>& samples,
                    const std::vector<std::string>& keys, int64_t batch_size);

  std::shared_ptr<const data::Dataset> dataset_;
  Modality modality_;
  encoders::EncoderBlock encoder_;
  std::string fingerprint_, preprocessing_;
  std::unique_ptr<data::FeatureCache> store_;
  std::map<std::string, torch::Tensor> rows_;  ///< by "<manifest>:<line>"; filled by prepare()
};

using runtime::fully_frozen;  // runtime/frozen_memo.h

/// An encoder whose input is already its output: data [B, D] -> pooled [B, D]. It registers the
/// wrapped encoder's children, parameters and buffers under their own names.
class ServedEncoderImpl : public runtime::WrappedEncoder<ServedEncoderImpl> {
 public:
  explicit ServedEncoderImpl(encoders::EncoderBlock inner);
  nn::Encoded encode(const data::ModalityBatch& input) override;  // data [B, D] -> pooled
};
TORCH_MODULE(ServedEncoder);

/// train.transfer's frozen-feature keys.
struct FrozenFeatureConfig {
  bool enabled = true;
  std::string dir;  ///< "" = the default
  /// Reads `transfer` (train.transfer, may be null); errors name the key.
  static FrozenFeatureConfig from_config(const ConfigNode& transfer);
};

struct Session;

/// What the trainer does each epoch: serve each wholly frozen, unaugmented encoder from its rows
/// (computed or read once), or put the encoder back when it thaws. The destructor stops serving.
class FrozenFeatureServing {
 public:
  explicit FrozenFeatureServing(Session& session);
  ~FrozenFeatureServing();
  FrozenFeatureServing(const FrozenFeatureServing&) = delete;
  FrozenFeatureServing& operator=(const FrozenFeatureServing&) = delete;
  /// Call after apply_freeze(epoch) and before the loaders (re)start.
  void update(int64_t epoch);

 private:
  void start(Modality m, const std::shared_ptr<torch::nn::Module>& encoder);
  void stop(Modality m);

  Session& s_;
  FrozenFeatureConfig config_;
  std::shared_ptr<torch::nn::ModuleDictImpl> encoders_;  ///< the task model's `encoders`
  std::array<std::shared_ptr<FrozenFeatures>, kNumModalities> served_;
};

}  // namespace mmfuse::train
