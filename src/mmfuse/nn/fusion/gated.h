// Gated multimodal unit (Arevalo et al. 2017) generalised to M modalities:
//   h_i = tanh(W_i x_i)                         [B, D]
//   z   = softmax_i(G [x_1, ..., x_M])          [B, M, D], per output unit, over present modalities
//   fused = sum_i z_i * h_i                     [B, D]
// As in the paper the gate is per unit (M = 2: z and 1 - z of a sigmoid), so each unit of the fused
// vector picks its own mix and the unit carries every modality's information side by side; one
// scalar gate per modality made the mix collapse onto a single modality in training.
// The gate sees every modality (learned placeholders for absent ones), so its input is defined.
// gate_from: inputs (the paper: G reads [x_1, ..., x_M]) or projections (G reads [h_1, ..., h_M],
// M*D wide: a gate of M*D x M*D weights instead of sum(D_i) x M*D, for a wide input such as a
// 40,962-d TF-IDF whose gate alone would otherwise hold 10 M weights).
#pragma once

#include <numeric>

#include "mmfuse/nn/fusion/common.h"
#include "mmfuse/nn/fusion/missing.h"

namespace mmfuse::fusion {

struct GatedFusionOptions {
  explicit GatedFusionOptions(std::vector<int64_t> dims) : dims_(std::move(dims)) {}
  /// Pooled size of each input modality, in order.
  TORCH_ARG(std::vector<int64_t>, dims);
  /// Common (output) size D.
  TORCH_ARG(int64_t, dim) = 64;
  /// true: the gate reads the projections h_i instead of the inputs x_i.
  TORCH_ARG(bool, gate_from_projections) = false;
};

class GatedFusionImpl : public torch::nn::Cloneable<GatedFusionImpl>, public Fusion {
 public:
  static constexpr const char* kName = "gated";
  static constexpr const char* kDescription =
      "gated multimodal unit: tanh projections mixed by softmax gates over present (Arevalo 2017); "
      "gate_from: inputs | projections";

  explicit GatedFusionImpl(GatedFusionOptions options) : options(std::move(options)) { reset(); }

  static std::shared_ptr<GatedFusionImpl> create(const FusionContext& ctx, const ConfigNode& cfg) {
    cfg.check_keys({"type", "dim", "gate_from"});
    const auto from = choice_option(cfg, "gate_from", "inputs", {"inputs", "projections"});
    return std::make_shared<GatedFusionImpl>(GatedFusionOptions(ctx.dims)
                                                 .dim(positive_option(cfg, "dim", 64))
                                                 .gate_from_projections(from == "projections"));
  }

  void reset() override {
    const auto& d = options.dims();
    placeholders_ = register_placeholders(*this, "placeholder_", d);
    proj_ = register_projections(*this, "proj", d, options.dim());
    const int64_t m = int64_t(d.size());
    const int64_t total = options.gate_from_projections()
                              ? m * options.dim()
                              : std::accumulate(d.begin(), d.end(), int64_t{0});
    gate_ = register_module("gate", torch::nn::Linear(total, m * options.dim()));
  }

  /// inputs[i].pooled: [B, D_i] -> fused [B, D]
  FusionOutput fuse(const std::vector<nn::Encoded>& inputs) override {
    check_inputs(kName, inputs, options.dims());
    auto present = presence_matrix(inputs);
    std::vector<torch::Tensor> x, h;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      x.push_back(fill_missing(inputs[i].pooled, inputs[i].present, placeholders_[i]));
      h.push_back(torch::tanh(proj_[i]->as<torch::nn::Linear>()->forward(x.back())));
    }
    const int64_t m = int64_t(inputs.size());
    const auto& gate_in = options.gate_from_projections() ? h : x;
    auto scores = gate_->forward(torch::cat(gate_in, 1)).view({-1, m, options.dim()});  // [B, M, D]
    auto z = masked_softmax(scores, present.unsqueeze(2));                              // [B, M, D]
    auto fused = (torch::stack(h, 1) * z).sum(1);
    return {fused, {}};
  }

  int64_t out_dim() const override { return options.dim(); }

  GatedFusionOptions options;

 private:
  std::vector<torch::Tensor> placeholders_;
  torch::nn::ModuleList proj_ = nullptr;
  torch::nn::Linear gate_ = nullptr;
};
TORCH_MODULE(GatedFusion);

}  // namespace mmfuse::fusion
