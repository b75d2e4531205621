// Late (decision) fusion: one MLP head per modality produces a decision vector of size `out`;
// the vectors are averaged over the modalities present in each sample, uniformly or with learned
// softmax weights (renormalised over present).
#pragma once

#include "mmfuse/nn/fusion/common.h"

namespace mmfuse::fusion {

struct LateFusionOptions {
  explicit LateFusionOptions(std::vector<int64_t> dims) : dims_(std::move(dims)) {}
  /// Pooled size of each input modality, in order.
  TORCH_ARG(std::vector<int64_t>, dims);
  /// Hidden width of each per-modality head.
  TORCH_ARG(int64_t, hidden) = 64;
  /// Size D of the decision vectors (and of the output).
  TORCH_ARG(int64_t, out) = 64;
  /// Learned modality weights instead of a plain mean.
  TORCH_ARG(bool, learned_weights) = false;
};

class LateFusionImpl : public torch::nn::Cloneable<LateFusionImpl>, public Fusion {
 public:
  static constexpr const char* kName = "late";
  static constexpr const char* kDescription =
      "decision fusion: per-modality MLP heads averaged over present (optionally learned weights)";

  explicit LateFusionImpl(LateFusionOptions options) : options(std::move(options)) { reset(); }

  static std::shared_ptr<LateFusionImpl> create(const FusionContext& ctx, const ConfigNode& cfg) {
    cfg.check_keys({"type", "hidden", "out", "learned_weights"});
    return std::make_shared<LateFusionImpl>(
        LateFusionOptions(ctx.dims)
            .hidden(positive_option(cfg, "hidden", 64))
            .out(positive_option(cfg, "out", 64))
            .learned_weights(cfg.get<bool>("learned_weights", false)));
  }

  void reset() override {
    heads = torch::nn::ModuleList();
    for (int64_t d : options.dims()) {
      heads->push_back(torch::nn::Sequential(torch::nn::Linear(d, options.hidden()),
                                             torch::nn::ReLU(),
                                             torch::nn::Linear(options.hidden(), options.out())));
    }
    heads = register_module("heads", heads);
    if (options.learned_weights()) {
      logits_ = register_parameter("logits", torch::zeros({int64_t(options.dims().size())}));
    }
  }

  /// inputs[i].pooled: [B, D_i] -> decisions [B, M, out] -> weighted mean over present [B, out]
  FusionOutput fuse(const std::vector<nn::Encoded>& inputs) override {
    check_inputs(kName, inputs, options.dims());
    auto present = presence_matrix(inputs);
    std::vector<torch::Tensor> y;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      y.push_back(heads[i]->as<torch::nn::Sequential>()->forward(inputs[i].pooled));
    }
    auto ys = torch::stack(y, 1);
    auto scores = options.learned_weights() ? logits_.unsqueeze(0).expand({present.size(0), -1})
                                            : torch::zeros(present.sizes(), ys.options());
    auto w = masked_softmax(scores, present);
    ys = torch::where(usable_mask(present).unsqueeze(2), ys, torch::zeros_like(ys));
    return {(ys * w.unsqueeze(2)).sum(1), {}};
  }

  int64_t out_dim() const override { return options.out(); }

  LateFusionOptions options;
  /// heads[i]: pooled [B, D_i] -> decision [B, out] (a Sequential).
  torch::nn::ModuleList heads = nullptr;

 private:
  torch::Tensor logits_;
};
TORCH_MODULE(LateFusion);

}  // namespace mmfuse::fusion
