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
/// `dims` defines the number of inputs; the other per-input vectors are either empty or as long.
struct FusionContext {
  std::vector<Modality> modalities;
  std::vector<int64_t> dims;        ///< pooled D per modality
  std::vector<int64_t> token_dims;  ///< token Dt per modality (0: that encoder gives no tokens)
  /// Token count T per modality (0: unknown or variable); empty = all unknown. Fusions with
  /// learned positions (cross_attention, transformer) size them from it.
  std::vector<int64_t> token_counts;
  /// Names of pseudo-modality inputs (a composite's branches: "branch_0", ...); empty for real
  /// modalities, whose names come from `modalities`.
  std::vector<std::string> input_names;

  std::size_t size() const { return dims.size(); }
  /// Dt of input i (0 when unknown).
  int64_t token_dim(std::size_t i) const { return i < token_dims.size() ? token_dims[i] : 0; }
  /// T of input i (0 when unknown).
  int64_t token_count(std::size_t i) const { return i < token_counts.size() ? token_counts[i] : 0; }
  /// "image", "audio", ... or the pseudo-modality name.
  std::string input_name(std::size_t i) const {
    if (i < input_names.size()) return input_names[i];
    return i < modalities.size() ? std::string(to_string(modalities[i])) : std::to_string(i);
  }
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
