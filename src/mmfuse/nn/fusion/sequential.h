// Sequential fusion: the modalities are folded in their fixed order by a recurrent cell,
//   h_0 = learned, h_i = GRUCell(W_i x_i, h_{i-1}) for a present modality, h_i = h_{i-1} else;
// fused = h_M. An absent modality is skipped per sample (the state passes through unchanged).
#pragma once

#include "mmfuse/nn/fusion/common.h"

namespace mmfuse::fusion {

struct SequentialFusionOptions {
  explicit SequentialFusionOptions(std::vector<int64_t> dims) : dims_(std::move(dims)) {}
  /// Pooled size of each input modality, in order.
  TORCH_ARG(std::vector<int64_t>, dims);
  /// State (output) size D; each modality is projected to it before the cell.
  TORCH_ARG(int64_t, dim) = 64;
};

class SequentialFusionImpl : public torch::nn::Cloneable<SequentialFusionImpl>, public Fusion {
 public:
  static constexpr const char* kName = "sequential";
  static constexpr const char* kDescription =
      "modalities folded in fixed order by a GRU cell, absent ones skipped per sample";

  explicit SequentialFusionImpl(SequentialFusionOptions options) : options(std::move(options)) {
    reset();
  }

  static std::shared_ptr<SequentialFusionImpl> create(const FusionContext& ctx,
                                                      const ConfigNode& cfg) {
    cfg.check_keys({"type", "dim"});
    return std::make_shared<SequentialFusionImpl>(
        SequentialFusionOptions(ctx.dims).dim(positive_option(cfg, "dim", 64)));
  }

  void reset() override {
    proj_ = register_projections(*this, "proj", options.dims(), options.dim());
    cell_ = register_module("cell", torch::nn::GRUCell(options.dim(), options.dim()));
    initial_ = register_parameter("initial", torch::zeros({options.dim()}));
  }

  /// inputs[i].pooled: [B, D_i] -> state [B, D]
  FusionOutput fuse(const std::vector<nn::Encoded>& inputs) override {
    check_inputs(kName, inputs, options.dims());
    const int64_t batch = inputs[0].pooled.size(0);
    auto h = initial_.unsqueeze(0).expand({batch, -1});
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      auto x = proj_[i]->as<torch::nn::Linear>()->forward(inputs[i].pooled);
      auto next = cell_->forward(x, h.contiguous());
      h = torch::where(present_of(inputs[i]).unsqueeze(1), next, h);
    }
    return {h, {}};
  }

  int64_t out_dim() const override { return options.dim(); }

  SequentialFusionOptions options;

 private:
  torch::nn::ModuleList proj_ = nullptr;
  torch::nn::GRUCell cell_ = nullptr;
  torch::Tensor initial_;
};
TORCH_MODULE(SequentialFusion);

}  // namespace mmfuse::fusion
