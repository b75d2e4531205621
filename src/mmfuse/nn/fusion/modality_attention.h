// Attention over modality vectors: each modality projected to a common size, scored by a small
// shared MLP, softmax over the present modalities of each sample, weighted sum.
#pragma once

#include "mmfuse/nn/fusion/common.h"

namespace mmfuse::fusion {

struct ModalityAttentionFusionOptions {
  explicit ModalityAttentionFusionOptions(std::vector<int64_t> dims) : dims_(std::move(dims)) {}
  /// Pooled size of each input modality, in order.
  TORCH_ARG(std::vector<int64_t>, dims);
  /// Common (output) size D.
  TORCH_ARG(int64_t, dim) = 64;
  /// Hidden width of the scoring MLP.
  TORCH_ARG(int64_t, hidden) = 32;
};

class ModalityAttentionFusionImpl : public torch::nn::Cloneable<ModalityAttentionFusionImpl>,
                                    public Fusion {
 public:
  static constexpr const char* kName = "modality_attention";
  static constexpr const char* kDescription =
      "MLP-scored attention weights over the present modality vectors, weighted sum";

  explicit ModalityAttentionFusionImpl(ModalityAttentionFusionOptions options)
      : options(std::move(options)) {
    reset();
  }

  static std::shared_ptr<ModalityAttentionFusionImpl> create(const FusionContext& ctx,
                                                             const ConfigNode& cfg) {
    cfg.check_keys({"type", "dim", "hidden"});
    return std::make_shared<ModalityAttentionFusionImpl>(
        ModalityAttentionFusionOptions(ctx.dims)
            .dim(positive_option(cfg, "dim", 64))
            .hidden(positive_option(cfg, "hidden", 32)));
  }

  void reset() override {
    proj_ = register_projections(*this, "proj", options.dims(), options.dim());
    score_ = register_module(
        "score", torch::nn::Sequential(torch::nn::Linear(options.dim(), options.hidden()),
                                       torch::nn::Tanh(), torch::nn::Linear(options.hidden(), 1)));
  }

  /// present: [B, M] attention weights (softmax over present) for these inputs.
  torch::Tensor attention(const std::vector<nn::Encoded>& inputs) {
    return scores_and_values(inputs).first;
  }

  /// inputs[i].pooled: [B, D_i] -> h [B, M, D] -> fused = sum_i a_i h_i [B, D]
  FusionOutput fuse(const std::vector<nn::Encoded>& inputs) override {
    auto [a, h] = scores_and_values(inputs);
    return {(h * a.unsqueeze(2)).sum(1), {}};
  }

  int64_t out_dim() const override { return options.dim(); }

  ModalityAttentionFusionOptions options;

 private:
  std::pair<torch::Tensor, torch::Tensor> scores_and_values(
      const std::vector<nn::Encoded>& inputs) {
    check_inputs(kName, inputs, options.dims());
    auto present = presence_matrix(inputs);
    std::vector<torch::Tensor> h;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      h.push_back(proj_[i]->as<torch::nn::Linear>()->forward(inputs[i].pooled));
    }
    auto hs = torch::stack(h, 1);                                      // [B, M, D]
    auto a = masked_softmax(score_->forward(hs).squeeze(2), present);  // [B, M]
    // An absent modality's vector is zeroed (weight 0 already; this also keeps inf/NaN out).
    hs = torch::where(usable_mask(present).unsqueeze(2), hs, torch::zeros_like(hs));
    return {a, hs};
  }

  torch::nn::ModuleList proj_ = nullptr;
  torch::nn::Sequential score_ = nullptr;
};
TORCH_MODULE(ModalityAttentionFusion);

}  // namespace mmfuse::fusion
