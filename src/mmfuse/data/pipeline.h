// The per-modality preprocessing contract between readers/transforms and the loader.
//
// For each sample and modality the loader does:
//   features = extract(field)            deterministic and possibly expensive; cached on disk
//                                         by (input file contents, field, cache_key()) when
//                                         cacheable(); called from several threads at once
//   if training: features = augment(field, features, rng)   seeded, training split only
//   item = finalize(features)            cheap, uses the statistics fitted by fit()
// and then collate(items) for the batch. fit() runs once, on the training split, before any of it.
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "mmfuse/core/modality.h"
#include "mmfuse/data/batch.h"
#include "mmfuse/data/sample.h"

namespace mmfuse::data {

using Rng = std::mt19937_64;

/// What fit() can look at: the training split's raw fields and (through the cache) features.
struct FitContext {
  std::size_t size = 0;  ///< training samples that have this modality
  std::function<const Field&(std::size_t)> field;
  std::function<torch::Tensor(std::size_t)> features;  ///< extract() through the cache
};

class ModalityPipeline {
 public:
  virtual ~ModalityPipeline() = default;

  virtual Modality modality() const = 0;

  /// Whether extract() results may be cached on disk (false for cheap or state-dependent ones).
  virtual bool cacheable() const { return false; }
  /// Everything that changes extract()'s output except the input field itself (settings, version).
  virtual std::string cache_key() const = 0;

  /// Fits data-dependent statistics (mean/std, vocabulary, idf). Default: nothing to fit.
  virtual void fit(const FitContext& ctx) {}

  /// Raw field -> features. Throws InputError (file set; the loader adds manifest line and field).
  virtual torch::Tensor extract(const Field& field) const = 0;

  /// Training-time augmentation; may re-read the raw field (e.g. waveform-level audio noise).
  virtual torch::Tensor augment(const Field& field, const torch::Tensor& features, Rng& rng) const {
    return features;
  }

  /// Applies fitted statistics (normalisation, vocabulary lookup...).
  virtual torch::Tensor finalize(const torch::Tensor& features) const { return features; }

  /// Per-sample items (undefined tensors where absent) -> batch. The default stacks fixed-size
  /// items and fills absent ones with zeros of the same shape.
  virtual ModalityBatch collate(const std::vector<torch::Tensor>& items) const;

  /// Shape of one finalized item ([C,H,W], [D], ...; -1 marks a variable-length dimension).
  virtual std::vector<int64_t> item_shape() const = 0;

  /// Fitted statistics and settings, saved beside a model so inference reproduces them.
  virtual nlohmann::json state() const { return nlohmann::json::object(); }
  virtual void load_state(const nlohmann::json& state) {}
};

}  // namespace mmfuse::data
