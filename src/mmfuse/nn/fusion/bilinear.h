// Multiplicative interactions (Jayakumar et al. 2020): for every pair of modalities i < j a
// bilinear map x_i^T W_ij x_j, plus a linear term per modality and a bias:
//   fused = sum_{i<j} Bilinear_ij(x_i, x_j) + sum_i Linear_i(x_i)
// With 2 modalities that is exactly one torch::nn::Bilinear plus the linear terms. Absent
// modalities get learned placeholder vectors.
#pragma once

#include "mmfuse/nn/fusion/common.h"
#include "mmfuse/nn/fusion/missing.h"

namespace mmfuse::fusion {

struct BilinearFusionOptions {
  explicit BilinearFusionOptions(std::vector<int64_t> dims) : dims_(std::move(dims)) {}
  /// Pooled size of each input modality, in order.
  TORCH_ARG(std::vector<int64_t>, dims);
  /// Output size D.
  TORCH_ARG(int64_t, out) = 64;
};

class BilinearFusionImpl : public torch::nn::Cloneable<BilinearFusionImpl>, public Fusion {
 public:
  static constexpr const char* kName = "bilinear";
  static constexpr const char* kDescription =
      "multiplicative interactions: pairwise bilinear maps plus linear terms (Jayakumar 2020)";

  explicit BilinearFusionImpl(BilinearFusionOptions options) : options(std::move(options)) {
    reset();
  }

  static std::shared_ptr<BilinearFusionImpl> create(const FusionContext& ctx,
                                                    const ConfigNode& cfg) {
    cfg.check_keys({"type", "out"});
    if (ctx.size() < 2) cfg.fail("bilinear fusion needs at least 2 modalities, got 1");
    return std::make_shared<BilinearFusionImpl>(
        BilinearFusionOptions(ctx.dims).out(positive_option(cfg, "out", 64)));
  }

  void reset() override {
    const auto& d = options.dims();
    placeholders_ = register_placeholders(*this, "placeholder_", d);
    pairs_.clear();
    torch::nn::ModuleList bilinear;
    for (std::size_t i = 0; i < d.size(); ++i) {
      for (std::size_t j = i + 1; j < d.size(); ++j) {
        // Only the first pair carries a bias (the linear terms have none): one bias overall.
        bilinear->push_back(torch::nn::Bilinear(
            torch::nn::BilinearOptions(d[i], d[j], options.out()).bias(pairs_.empty())));
        pairs_.push_back({i, j});
      }
    }
    bilinear_ = register_module("bilinear", bilinear);
    linear_ = torch::nn::ModuleList();
    for (int64_t di : d) {
      linear_->push_back(
          torch::nn::Linear(torch::nn::LinearOptions(di, options.out()).bias(false)));
    }
    linear_ = register_module("linear", linear_);
  }

  /// inputs[i].pooled: [B, D_i] -> fused [B, out]
  FusionOutput fuse(const std::vector<nn::Encoded>& inputs) override {
    check_inputs(kName, inputs, options.dims());
    std::vector<torch::Tensor> x;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      x.push_back(fill_missing(inputs[i].pooled, inputs[i].present, placeholders_[i]));
    }
    torch::Tensor fused;
    for (std::size_t p = 0; p < pairs_.size(); ++p) {
      auto y =
          bilinear_[p]->as<torch::nn::Bilinear>()->forward(x[pairs_[p].first], x[pairs_[p].second]);
      fused = fused.defined() ? fused + y : y;
    }
    for (std::size_t i = 0; i < x.size(); ++i) {
      fused = fused + linear_[i]->as<torch::nn::Linear>()->forward(x[i]);
    }
    return {fused, {}};
  }

  int64_t out_dim() const override { return options.out(); }

  BilinearFusionOptions options;

 private:
  std::vector<torch::Tensor> placeholders_;
  std::vector<std::pair<std::size_t, std::size_t>> pairs_;
  torch::nn::ModuleList bilinear_ = nullptr;
  torch::nn::ModuleList linear_ = nullptr;
};
TORCH_MODULE(BilinearFusion);

}  // namespace mmfuse::fusion
