// Encodings computed ahead of training for one modality (a frozen encoder's pooled features,
// train/frozen_features.h). While a provider is set for (dataset, modality), every Loader over that
// dataset hands out provider.row(sample) rows stacked as data [B, D] (present where the sample has
// the modality, zeros elsewhere) instead of decoding and preprocessing the raw field; the trainer
// then swaps the model's encoder for one that passes such rows through.
#pragma once

#include <memory>

#include <torch/torch.h>

#include "mmfuse/core/modality.h"
#include "mmfuse/data/batch.h"
#include "mmfuse/data/sample.h"

namespace mmfuse::data {

class Dataset;

class PrecomputedEncodings {
 public:
  virtual ~PrecomputedEncodings() = default;
  /// The sample's encoding [D] (float). Throws Error when it was never computed.
  /// Called from the loader's worker threads.
  virtual torch::Tensor row(const Sample& s) const = 0;
};

/// Serves `m` of every loader over `dataset` from `encodings` (null: decoded again). Loaders see
/// it from their next batch made (Loader::seek restarts the workers). Process-wide; thread-safe.
void set_precomputed(const Dataset& dataset, Modality m,
                     std::shared_ptr<const PrecomputedEncodings> encodings);
/// The provider of (dataset, m), or null.
std::shared_ptr<const PrecomputedEncodings> precomputed_for(const Dataset& dataset, Modality m);

/// Rows [D] (undefined where the sample lacks the modality) -> data [B, D], zeros where absent.
ModalityBatch collate_precomputed(const std::vector<torch::Tensor>& rows);

}  // namespace mmfuse::data
