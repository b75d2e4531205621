// Concatenation fusion: [z_1, ..., z_M] -> [B, sum D_i]. Absent modalities get a learned
// placeholder vector.
#pragma once

#include <numeric>
#include <string>
#include <vector>

#include "mmfuse/nn/fusion/fusion.h"
#include "mmfuse/nn/fusion/missing.h"

namespace mmfuse::fusion {

struct ConcatFusionOptions {
  explicit ConcatFusionOptions(std::vector<int64_t> dims) : dims_(std::move(dims)) {}
  /// Pooled size of each input modality, in order.
  TORCH_ARG(std::vector<int64_t>, dims);
};

class ConcatFusionImpl : public torch::nn::Cloneable<ConcatFusionImpl>, public Fusion {
 public:
  static constexpr const char* kName = "concat";
  static constexpr const char* kDescription =
      "concatenation of the modality vectors (early/late concat), learned placeholders for absent "
      "ones";

  explicit ConcatFusionImpl(ConcatFusionOptions options) : options(std::move(options)) { reset(); }

  static std::shared_ptr<ConcatFusionImpl> create(const FusionContext& ctx, const ConfigNode& cfg) {
    cfg.check_keys({"type"});
    return std::make_shared<ConcatFusionImpl>(ConcatFusionOptions(ctx.dims));
  }

  void reset() override {
    placeholders_.clear();
    for (std::size_t i = 0; i < options.dims().size(); ++i) {
      placeholders_.push_back(register_parameter("placeholder_" + std::to_string(i),
                                                 torch::zeros({options.dims()[i]})));
    }
  }

  /// inputs[i].pooled: [B, D_i] -> fused [B, sum D_i]
  FusionOutput fuse(const std::vector<nn::Encoded>& inputs) override {
    TORCH_CHECK(inputs.size() == placeholders_.size(), "concat fusion expected ",
                placeholders_.size(), " modalities, got ", inputs.size());
    std::vector<torch::Tensor> parts;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      parts.push_back(fill_missing(inputs[i].pooled, inputs[i].present, placeholders_[i]));
    }
    return {torch::cat(parts, 1), {}};
  }

  int64_t out_dim() const override {
    return std::accumulate(options.dims().begin(), options.dims().end(), int64_t{0});
  }

  ConcatFusionOptions options;

 private:
  std::vector<torch::Tensor> placeholders_;
};
TORCH_MODULE(ConcatFusion);

}  // namespace mmfuse::fusion
