// Frozen encoders memoized at inference: an encoder that a run kept frozen for its whole training
// (train.transfer.freeze covers it, freeze_epochs 0, as in frozen-feature mode) computes the same
// output for the same input in every run over the same pretrained weights. A MemoEncoder wraps it
// and keeps each pooled row on disk under a key of the encoder's fingerprint (every parameter and
// buffer by name, shape and bytes, plus its config) and the input row's bytes, so evaluating a
// second run, an ensemble whose members share the frozen tower, or the same run again reads the
// rows instead of running the encoder.
//
//   RunLoadOptions o;  o.frozen_memo = true;      // `mmfuse eval` does
//   auto run = load_run(dir, o);                 // encoders wrapped where the run allows it
//   memo_stats(*run->model.module());            // {"image": {computed, read}}
//
// The store is the run's frozen-feature cache folder (train.transfer.feature_cache, default
// `<data cache dir>/frozen`); train.transfer.cache_features: false turns the memo off too. Only
// pooled outputs are kept: a model whose fusion reads token sequences is not wrapped, nor are
// variable-length inputs (token ids, frames with lengths), which pass through unmemoized, nor
// are int8 runs (their hooked layers compute other rows from the same float weights).
#pragma once

#include <atomic>
#include <map>
#include <memory>
#include <string>

#include <torch/torch.h>

#include "mmfuse/core/config.h"
#include "mmfuse/core/error.h"
#include "mmfuse/data/feature_cache.h"
#include "mmfuse/models/model.h"
#include "mmfuse/nn/encoders/encoder.h"

namespace mmfuse::runtime {

/// Hash of every parameter and buffer of `module` (names, dtypes, shapes, bytes) and `options`
/// (the encoder's config: what its weights alone do not fix, e.g. padding).
std::string module_fingerprint(const torch::nn::Module& module, const std::string& options);

/// Whether every parameter of `module` named `prefix…` is under one of the `freeze` prefixes
/// (and there is at least one).
bool fully_frozen(const torch::nn::Module& module, const std::string& prefix,
                  const std::vector<std::string>& freeze);

struct MemoStats {
  int64_t computed = 0;  ///< rows the encoder computed (and stored)
  int64_t read = 0;      ///< rows found in the store
};

/// An encoder standing in for another one (`inner`): it registers the wrapped encoder's
/// children, parameters and buffers under their own names, so optimizers, checkpoints and
/// fingerprints see the same model. A clone() wraps a deep copy.
template <typename Derived>
class WrappedEncoder : public torch::nn::Cloneable<Derived>, public encoders::Encoder {
 public:
  explicit WrappedEncoder(encoders::EncoderBlock inner) : inner_(std::move(inner)) {
    if (!inner_) throw Error("a wrapped encoder needs an encoder");
  }
  void reset() override {
    if (constructed_) inner_ = inner_.clone();  // a copy made by clone(): its own encoder
    constructed_ = true;
    torch::nn::Module& m = *inner_.module();
    for (const auto& c : m.named_children()) this->register_module(c.key(), c.value());
    for (const auto& p : m.named_parameters(/*recurse=*/false)) {
      this->register_parameter(p.key(), p.value(), p.value().requires_grad());
    }
    for (const auto& b : m.named_buffers(/*recurse=*/false))
      this->register_buffer(b.key(), b.value());
  }
  int64_t out_dim() const override { return inner_->out_dim(); }
  const encoders::EncoderBlock& inner() const { return inner_; }

 protected:
  encoders::EncoderBlock inner_;

 private:
  bool constructed_ = false;  ///< set by the first reset(), the constructor's
};

/// An encoder that answers rows it has seen from its store: data [B, ...] -> pooled [B, D]
/// (tokens undefined), computing the others with the wrapped encoder.
class MemoEncoderImpl : public WrappedEncoder<MemoEncoderImpl> {
 public:
  /// `options`: the encoder's config dump (part of the fingerprint). `dir`: the store ("" = in
  /// memory only, for this process).
  MemoEncoderImpl(encoders::EncoderBlock inner, const std::string& options, const std::string& dir);
  nn::Encoded encode(const data::ModalityBatch& input) override;
  MemoStats stats() const { return {counts_.computed.load(), counts_.read.load()}; }
  /// false: every call runs the wrapped encoder and the store is neither read nor written.
  void set_active(bool active) { active_ = active; }
  const std::string& dir() const { return dir_; }

 private:
  std::string row_key(const torch::Tensor& row) const;  // row: one input sample, CPU

  std::string fingerprint_, dir_;
  std::shared_ptr<data::FeatureCache> store_;  ///< shared by every memo over the same folder
  bool active_ = true;
  struct Counts {  // a clone counts anew
    std::atomic<int64_t> computed{0}, read{0};
    Counts() = default;
    Counts(const Counts&) {}
    Counts& operator=(const Counts&) { return *this; }
  } counts_;
};
TORCH_MODULE(MemoEncoder);

/// Wraps each encoder of `model` (a MultimodalModel or a TwoTower: its `encoders` dict) that
/// `run_config` (a run's config.yaml) kept frozen for the whole run in a MemoEncoder over
/// `default_dir` (or train.transfer.feature_cache). Returns the wrapped modality names. Nothing is
/// wrapped when the run trained no encoder frozen, turned cache_features off, or the fusion needs
/// token sequences.
std::vector<std::string> memoize_frozen_encoders(torch::nn::Module& model,
                                                 const ConfigNode& run_config,
                                                 const std::string& default_dir);

/// The memoized encoders under `module` (a model, an ensemble) with their counts summed by
/// modality name ("image").
std::map<std::string, MemoStats> memo_stats(const torch::nn::Module& module);

/// While alive, the memoized encoders under a module run their wrapped encoders on every call
/// (what a timing of the model must measure). Not for modules other threads run meanwhile.
class MemoBypass {
 public:
  explicit MemoBypass(torch::nn::Module& module);
  ~MemoBypass();
  MemoBypass(const MemoBypass&) = delete;
  MemoBypass& operator=(const MemoBypass&) = delete;

 private:
  std::vector<MemoEncoderImpl*> memos_;
};

}  // namespace mmfuse::runtime
