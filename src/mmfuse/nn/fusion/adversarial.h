// Adversarial shared space: each modality is projected to a shared space; a discriminator MLP
// tries to tell which modality a projected vector came from, behind a gradient reversal layer,
// so training the discriminator pushes the projections towards modality-invariance. Its
// cross-entropy over the present (sample, modality) pairs is FusionOutput::losses["adversarial"].
// fused = mean of the projections over present modalities (or their concatenation, with learned
// placeholders for absent ones).
#pragma once

#include "mmfuse/nn/fusion/common.h"
#include "mmfuse/nn/fusion/gradient_reversal.h"
#include "mmfuse/nn/fusion/missing.h"

namespace mmfuse::fusion {

struct AdversarialFusionOptions {
  explicit AdversarialFusionOptions(std::vector<int64_t> dims) : dims_(std::move(dims)) {}
  /// Pooled size of each input modality, in order.
  TORCH_ARG(std::vector<int64_t>, dims);
  /// Shared-space size D.
  TORCH_ARG(int64_t, dim) = 64;
  /// Hidden width of the discriminator.
  TORCH_ARG(int64_t, hidden) = 64;
  /// Gradient reversal strength lambda.
  TORCH_ARG(double, lambda) = 1.0;
  /// Combine the projections by concatenation (true, [B, M D]) or mean (false, [B, D]).
  TORCH_ARG(bool, concat) = false;
};

class AdversarialFusionImpl : public torch::nn::Cloneable<AdversarialFusionImpl>, public Fusion {
 public:
  static constexpr const char* kName = "adversarial";
  static constexpr const char* kDescription =
      "shared-space projections with a modality discriminator behind gradient reversal";

  explicit AdversarialFusionImpl(AdversarialFusionOptions options) : options(std::move(options)) {
    reset();
  }

  /// Keys: dim, hidden, lambda, combine (mean | concat).
  static std::shared_ptr<AdversarialFusionImpl> create(const FusionContext& ctx,
                                                       const ConfigNode& cfg) {
    cfg.check_keys({"type", "dim", "hidden", "lambda", "combine"});
    if (ctx.size() < 2) cfg.fail("adversarial fusion needs at least 2 modalities, got 1");
    auto lambda = cfg.get<double>("lambda", 1.0);
    if (lambda < 0) cfg["lambda"].fail("expected lambda >= 0, got " + std::to_string(lambda));
    return std::make_shared<AdversarialFusionImpl>(
        AdversarialFusionOptions(ctx.dims)
            .dim(positive_option(cfg, "dim", 64))
            .hidden(positive_option(cfg, "hidden", 64))
            .lambda(lambda)
            .concat(choice_option(cfg, "combine", "mean", {"mean", "concat"}) == "concat"));
  }

  void reset() override {
    const int64_t m = int64_t(options.dims().size());
    proj_ = register_projections(*this, "proj", options.dims(), options.dim());
    discriminator_ = register_module(
        "discriminator",
        torch::nn::Sequential(torch::nn::Linear(options.dim(), options.hidden()), torch::nn::ReLU(),
                              torch::nn::Linear(options.hidden(), m)));
    placeholders_.clear();
    if (options.concat()) {
      placeholders_ =
          register_placeholders(*this, "placeholder_", std::vector<int64_t>(m, options.dim()));
    }
  }

  /// inputs[i].pooled: [B, D_i] -> s_i [B, D] -> fused [B, D] (mean) or [B, M D] (concat);
  /// losses["adversarial"]: scalar cross-entropy of the discriminator.
  FusionOutput fuse(const std::vector<nn::Encoded>& inputs) override {
    check_inputs(kName, inputs, options.dims());
    auto present = presence_matrix(inputs);  // [B, M]
    const int64_t m = present.size(1);
    std::vector<torch::Tensor> s;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      s.push_back(torch::tanh(proj_[i]->as<torch::nn::Linear>()->forward(inputs[i].pooled)));
    }
    auto ss = torch::stack(s, 1);  // [B, M, D]

    // Discriminator over every (sample, modality) pair; absent pairs weigh 0.
    auto logits = discriminator_->forward(gradient_reversal(ss, options.lambda()));  // [B, M, M]
    auto target = torch::arange(m, present.options().dtype(torch::kLong))
                      .unsqueeze(0)
                      .expand({present.size(0), m});
    auto ce = torch::nn::functional::cross_entropy(
        logits.reshape({-1, m}), target.reshape({-1}),
        torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
    auto w = present.reshape({-1}).to(ce.dtype());
    auto loss = (torch::where(present.reshape({-1}), ce, torch::zeros_like(ce)) * w).sum() /
                w.sum().clamp_min(1.0);

    torch::Tensor fused;
    if (options.concat()) {
      std::vector<torch::Tensor> parts;
      for (std::size_t i = 0; i < s.size(); ++i) {
        parts.push_back(fill_missing(s[i], inputs[i].present, placeholders_[i]));
      }
      fused = torch::cat(parts, 1);
    } else {
      auto usable = usable_mask(present);
      auto u = usable.to(ss.dtype()).unsqueeze(2);
      fused = torch::where(usable.unsqueeze(2), ss, torch::zeros_like(ss)).sum(1) / u.sum(1);
    }
    return {fused, {{"adversarial", loss}}};
  }

  int64_t out_dim() const override {
    return options.concat() ? options.dim() * int64_t(options.dims().size()) : options.dim();
  }

  AdversarialFusionOptions options;

 private:
  torch::nn::ModuleList proj_ = nullptr;
  torch::nn::Sequential discriminator_ = nullptr;
  std::vector<torch::Tensor> placeholders_;
};
TORCH_MODULE(AdversarialFusion);

}  // namespace mmfuse::fusion
