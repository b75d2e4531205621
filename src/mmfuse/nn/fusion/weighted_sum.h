// Weighted sum: each modality projected to a common size, combined with learned softmax weights
// that are renormalised over the modalities present in each sample.
#pragma once

#include "mmfuse/nn/fusion/common.h"

namespace mmfuse::fusion {

struct WeightedSumFusionOptions {
  explicit WeightedSumFusionOptions(std::vector<int64_t> dims) : dims_(std::move(dims)) {}
  /// Pooled size of each input modality, in order.
  TORCH_ARG(std::vector<int64_t>, dims);
  /// Common (output) size D.
  TORCH_ARG(int64_t, dim) = 64;
};

class WeightedSumFusionImpl : public torch::nn::Cloneable<WeightedSumFusionImpl>, public Fusion {
 public:
  static constexpr const char* kName = "weighted_sum";
  static constexpr const char* kDescription =
      "projections to a common size summed with learned softmax weights renormalised over present";

  explicit WeightedSumFusionImpl(WeightedSumFusionOptions options) : options(std::move(options)) {
    reset();
  }

  static std::shared_ptr<WeightedSumFusionImpl> create(const FusionContext& ctx,
                                                       const ConfigNode& cfg) {
    cfg.check_keys({"type", "dim"});
    return std::make_shared<WeightedSumFusionImpl>(
        WeightedSumFusionOptions(ctx.dims).dim(positive_option(cfg, "dim", 64)));
  }

  void reset() override {
    proj_ = register_projections(*this, "proj", options.dims(), options.dim());
    logits_ = register_parameter("logits", torch::zeros({int64_t(options.dims().size())}));
  }

  /// present: [B, M] bool -> weights [B, M]: softmax(logits) over the present modalities of
  /// each row (rows sum to 1; absent entries are 0; a row with nothing present uses all).
  torch::Tensor weights(const torch::Tensor& present) const {
    return masked_softmax(logits_.unsqueeze(0).expand({present.size(0), -1}), present);
  }

  /// inputs[i].pooled: [B, D_i] -> h_i [B, D] -> fused = sum_i w_i h_i [B, D]
  FusionOutput fuse(const std::vector<nn::Encoded>& inputs) override {
    check_inputs(kName, inputs, options.dims());
    auto present = presence_matrix(inputs);
    auto w = weights(present);
    auto usable = usable_mask(present);
    torch::Tensor fused;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      auto h = proj_[i]->as<torch::nn::Linear>()->forward(inputs[i].pooled);
      // where() (not w * h alone) so an absent row's content never reaches the output.
      auto term = torch::where(usable.select(1, i).unsqueeze(1), h * w.select(1, i).unsqueeze(1),
                               torch::zeros_like(h));
      fused = fused.defined() ? fused + term : term;
    }
    return {fused, {}};
  }

  int64_t out_dim() const override { return options.dim(); }

  WeightedSumFusionOptions options;

 private:
  torch::nn::ModuleList proj_ = nullptr;
  torch::Tensor logits_;
};
TORCH_MODULE(WeightedSumFusion);

}  // namespace mmfuse::fusion
