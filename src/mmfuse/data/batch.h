// What the loader hands to models: one tensor (plus presence and lengths) per modality.
#pragma once

#include <array>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "mmfuse/core/modality.h"

namespace mmfuse::data {

/// One modality of a batch.
struct ModalityBatch {
  /// Features, [B, ...]: image [B, C, H, W]; spectrogram [B, 1, F, T] or frames [B, T, F];
  /// token ids [B, T] (int64); bag-of-words / TF-IDF / tabular [B, D]. Zeros where absent.
  torch::Tensor data;
  /// [B] bool: false where the sample lacks this modality (a missing modality is data).
  torch::Tensor present;
  /// [B] int64 valid length of each sequence (tokens or frames); undefined for fixed-size data.
  torch::Tensor lengths;

  ModalityBatch to(const torch::Device& device) const;
};

struct Batch {
  std::vector<std::string> ids;
  /// By index_of(Modality); empty when the dataset does not use that modality.
  std::array<std::optional<ModalityBatch>, kNumModalities> inputs;
  /// Targets by name: a class target is [B] int64 (-1 where unknown); a regression target is
  /// [B, K] float (NaN where unknown).
  std::map<std::string, torch::Tensor> targets;

  int64_t size() const { return static_cast<int64_t>(ids.size()); }
  bool has(Modality m) const { return inputs[index_of(m)].has_value(); }
  const ModalityBatch& at(Modality m) const;
  Batch to(const torch::Device& device) const;
  /// Bytes of the tensors' storages (features, presence, lengths, targets).
  int64_t nbytes() const;
};

}  // namespace mmfuse::data
