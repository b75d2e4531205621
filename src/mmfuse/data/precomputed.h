// Encodings computed ahead of training for one modality (a frozen encoder's pooled features,
// train/frozen_features.h): when a Dataset has a provider for modality m, every Loader built on
// it hands out provider.row(sample) rows stacked as [B, D] with ModalityBatch::encoded set,
// instead of decoding and preprocessing the raw field, and the model skips that encoder.
#pragma once

#include <torch/torch.h>

#include "mmfuse/data/sample.h"

namespace mmfuse::data {

class PrecomputedEncodings {
 public:
  virtual ~PrecomputedEncodings() = default;
  /// The sample's encoding [D] (float). Throws Error when it was never computed.
  /// Called from the loader's worker threads.
  virtual torch::Tensor row(const Sample& s) const = 0;
};

}  // namespace mmfuse::data
