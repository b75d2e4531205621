// Element-wise product: each modality projected to a common size, the projections multiplied.
// An absent modality's factor is a learned placeholder vector (initialised to ones, the neutral
// element), so the product of the present ones is what remains at initialisation.
#pragma once

#include "mmfuse/nn/fusion/common.h"
#include "mmfuse/nn/fusion/missing.h"

namespace mmfuse::fusion {

struct ProductFusionOptions {
  explicit ProductFusionOptions(std::vector<int64_t> dims) : dims_(std::move(dims)) {}
  /// Pooled size of each input modality, in order.
  TORCH_ARG(std::vector<int64_t>, dims);
  /// Common (output) size D.
  TORCH_ARG(int64_t, dim) = 64;
};

class ProductFusionImpl : public torch::nn::Cloneable<ProductFusionImpl>, public Fusion {
 public:
  static constexpr const char* kName = "product";
  static constexpr const char* kDescription =
      "element-wise product of projections to a common size (learned placeholder for absent)";

  explicit ProductFusionImpl(ProductFusionOptions options) : options(std::move(options)) {
    reset();
  }

  static std::shared_ptr<ProductFusionImpl> create(const FusionContext& ctx,
                                                   const ConfigNode& cfg) {
    cfg.check_keys({"type", "dim"});
    return std::make_shared<ProductFusionImpl>(
        ProductFusionOptions(ctx.dims).dim(positive_option(cfg, "dim", 64)));
  }

  void reset() override {
    const auto& d = options.dims();
    proj_ = register_projections(*this, "proj", d, options.dim());
    placeholders_ = register_placeholders(*this, "placeholder_",
                                          std::vector<int64_t>(d.size(), options.dim()), 1.0);
  }

  /// inputs[i].pooled: [B, D_i] -> h_i [B, D] -> fused = prod_i h_i [B, D]
  FusionOutput fuse(const std::vector<nn::Encoded>& inputs) override {
    check_inputs(kName, inputs, options.dims());
    torch::Tensor fused;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      auto h = proj_[i]->as<torch::nn::Linear>()->forward(inputs[i].pooled);
      h = fill_missing(h, inputs[i].present, placeholders_[i]);
      fused = fused.defined() ? fused * h : h;
    }
    return {fused, {}};
  }

  int64_t out_dim() const override { return options.dim(); }

  ProductFusionOptions options;

 private:
  torch::nn::ModuleList proj_ = nullptr;
  std::vector<torch::Tensor> placeholders_;
};
TORCH_MODULE(ProductFusion);

}  // namespace mmfuse::fusion
