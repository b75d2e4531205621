// Max pooling over modalities: each modality projected to a common size, then the element-wise
// maximum over the modalities present in each sample (absent ones never win).
#pragma once

#include "mmfuse/nn/fusion/common.h"

namespace mmfuse::fusion {

struct MaxPoolFusionOptions {
  explicit MaxPoolFusionOptions(std::vector<int64_t> dims) : dims_(std::move(dims)) {}
  /// Pooled size of each input modality, in order.
  TORCH_ARG(std::vector<int64_t>, dims);
  /// Common (output) size D.
  TORCH_ARG(int64_t, dim) = 64;
};

class MaxPoolFusionImpl : public torch::nn::Cloneable<MaxPoolFusionImpl>, public Fusion {
 public:
  static constexpr const char* kName = "max_pool";
  static constexpr const char* kDescription =
      "element-wise maximum of projections to a common size over the present modalities";

  explicit MaxPoolFusionImpl(MaxPoolFusionOptions options) : options(std::move(options)) {
    reset();
  }

  static std::shared_ptr<MaxPoolFusionImpl> create(const FusionContext& ctx,
                                                   const ConfigNode& cfg) {
    cfg.check_keys({"type", "dim"});
    return std::make_shared<MaxPoolFusionImpl>(
        MaxPoolFusionOptions(ctx.dims).dim(positive_option(cfg, "dim", 64)));
  }

  void reset() override {
    proj_ = register_projections(*this, "proj", options.dims(), options.dim());
  }

  /// inputs[i].pooled: [B, D_i] -> h_i [B, D] -> fused [B, D] = max over present i of h_i
  FusionOutput fuse(const std::vector<nn::Encoded>& inputs) override {
    check_inputs(kName, inputs, options.dims());
    const auto usable = usable_mask(presence_matrix(inputs));  // [B, M]
    std::vector<torch::Tensor> h;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      h.push_back(proj_[i]->as<torch::nn::Linear>()->forward(inputs[i].pooled));
    }
    auto stacked = torch::stack(h, 1);  // [B, M, D]
    auto masked = stacked.masked_fill(usable.logical_not().unsqueeze(2), -INFINITY);
    return {std::get<0>(masked.max(1)), {}};
  }

  int64_t out_dim() const override { return options.dim(); }

  MaxPoolFusionOptions options;

 private:
  torch::nn::ModuleList proj_ = nullptr;
};
TORCH_MODULE(MaxPoolFusion);

}  // namespace mmfuse::fusion
