// Fusion family interface: the encodings of several modalities -> one representation [B, D].
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "mmfuse/core/modality.h"
#include "mmfuse/nn/encoded.h"
#include "mmfuse/nn/registry.h"

namespace mmfuse::fusion {

/// The modalities a fusion receives, in fixed Modality order, with their encoders' sizes.
struct FusionContext {
  std::vector<Modality> modalities;
  std::vector<int64_t> dims;        ///< pooled D per modality
  std::vector<int64_t> token_dims;  ///< token Dt per modality (0: that encoder gives no tokens)
  std::size_t size() const { return modalities.size(); }
};

struct FusionOutput {
  torch::Tensor fused;  ///< [B, out_dim()]
  /// Extra losses the trainer adds to the task loss (e.g. "adversarial"), scalars.
  std::map<std::string, torch::Tensor> losses;
};

/// Implemented by every fusion XImpl (alongside torch::nn::Cloneable<XImpl>).
/// Requires: inputs.size() == context size, in the context's order; every pooled is [B, dims[i]].
/// Ensures: any per-sample subset of present modalities works (learned placeholders or masking;
///          never a crash, never a silent zero that skews results).
class Fusion {
 public:
  virtual ~Fusion() = default;
  virtual FusionOutput fuse(const std::vector<nn::Encoded>& inputs) = 0;
  virtual int64_t out_dim() const = 0;
  /// Whether the fusion reads `tokens` (then every encoder must give them).
  virtual bool needs_tokens() const { return false; }
};

using FusionBlock = nn::Block<Fusion>;
using FusionRegistry = nn::Registry<Fusion, FusionContext>;

const FusionRegistry& fusion_registry();
void register_builtin_fusions(FusionRegistry& r);

}  // namespace mmfuse::fusion
