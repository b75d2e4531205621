// Early (feature-level) concatenation: the raw pooled features of all modalities, concatenated
// (learned placeholders for absent ones), go through one joint MLP, so the modalities interact
// before the head. `concat`, by contrast, leaves all mixing to the head (late concat).
#pragma once

#include <numeric>

#include "mmfuse/nn/fusion/common.h"
#include "mmfuse/nn/fusion/missing.h"

namespace mmfuse::fusion {

struct EarlyConcatFusionOptions {
  explicit EarlyConcatFusionOptions(std::vector<int64_t> dims) : dims_(std::move(dims)) {}
  /// Pooled size of each input modality, in order.
  TORCH_ARG(std::vector<int64_t>, dims);
  /// Hidden width of the joint MLP.
  TORCH_ARG(int64_t, hidden) = 128;
  /// Output size D.
  TORCH_ARG(int64_t, out) = 64;
};

class EarlyConcatFusionImpl : public torch::nn::Cloneable<EarlyConcatFusionImpl>, public Fusion {
 public:
  static constexpr const char* kName = "early_concat";
  static constexpr const char* kDescription =
      "raw pooled features concatenated, then a joint MLP (feature-level early fusion)";

  explicit EarlyConcatFusionImpl(EarlyConcatFusionOptions options) : options(std::move(options)) {
    reset();
  }

  static std::shared_ptr<EarlyConcatFusionImpl> create(const FusionContext& ctx,
                                                       const ConfigNode& cfg) {
    cfg.check_keys({"type", "hidden", "out"});
    return std::make_shared<EarlyConcatFusionImpl>(EarlyConcatFusionOptions(ctx.dims)
                                                       .hidden(positive_option(cfg, "hidden", 128))
                                                       .out(positive_option(cfg, "out", 64)));
  }

  void reset() override {
    const auto& d = options.dims();
    placeholders_ = register_placeholders(*this, "placeholder_", d);
    const int64_t total = std::accumulate(d.begin(), d.end(), int64_t{0});
    mlp_ = register_module(
        "mlp", torch::nn::Sequential(torch::nn::Linear(total, options.hidden()), torch::nn::ReLU(),
                                     torch::nn::Linear(options.hidden(), options.out())));
  }

  /// inputs[i].pooled: [B, D_i] -> cat [B, sum D_i] -> fused [B, out]
  FusionOutput fuse(const std::vector<nn::Encoded>& inputs) override {
    check_inputs(kName, inputs, options.dims());
    std::vector<torch::Tensor> parts;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      parts.push_back(fill_missing(inputs[i].pooled, inputs[i].present, placeholders_[i]));
    }
    return {mlp_->forward(torch::cat(parts, 1)), {}};
  }

  int64_t out_dim() const override { return options.out(); }

  EarlyConcatFusionOptions options;

 private:
  std::vector<torch::Tensor> placeholders_;
  torch::nn::Sequential mlp_ = nullptr;
};
TORCH_MODULE(EarlyConcatFusion);

}  // namespace mmfuse::fusion
