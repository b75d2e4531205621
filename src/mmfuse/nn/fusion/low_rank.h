// Low-rank multimodal fusion (Liu et al. 2018), parametrised exactly like the peer's
// LowRankTensorFusion so its weights load by name:
//   factors.i     [rank, D_i + 1, out]   (one per modality)
//   rank_weights  [1, rank]
//   bias          [1, out]
//   fused = rank_weights @ (prod_i ([z_i, 1] @ factors.i)).permute(1, 0, 2) + bias
// i.e. fused[b] = sum_r w_r prod_i ([z_i, 1] F_i[r])[b] + bias. xavier_normal factors and
// rank_weights, zero bias (as the peer). Absent modalities get learned placeholder vectors.
#pragma once

#include "mmfuse/nn/fusion/common.h"
#include "mmfuse/nn/fusion/missing.h"

namespace mmfuse::fusion {

/// The per-modality factors as parameters "0", "1", ... of shapes [rank, D_i + 1, out],
/// xavier_normal initialised (a clone()-able stand-in for torch::nn::ParameterList, whose
/// clone() fails on a non-empty list).
class LowRankFactorsImpl : public torch::nn::Cloneable<LowRankFactorsImpl> {
 public:
  explicit LowRankFactorsImpl(std::vector<std::vector<int64_t>> shapes)
      : shapes_(std::move(shapes)) {
    reset();
  }
  void reset() override {
    factors_.clear();
    for (std::size_t i = 0; i < shapes_.size(); ++i) {
      factors_.push_back(register_parameter(std::to_string(i), torch::empty(shapes_[i])));
      torch::nn::init::xavier_normal_(factors_.back());
    }
  }
  const torch::Tensor& operator[](std::size_t i) const { return factors_.at(i); }

 private:
  std::vector<std::vector<int64_t>> shapes_;
  std::vector<torch::Tensor> factors_;
};
TORCH_MODULE(LowRankFactors);

struct LowRankFusionOptions {
  LowRankFusionOptions(std::vector<int64_t> dims, int64_t out)
      : dims_(std::move(dims)), out_(out) {}
  /// Pooled size of each input modality, in order.
  TORCH_ARG(std::vector<int64_t>, dims);
  /// Output size D.
  TORCH_ARG(int64_t, out);
  /// Rank r of the factorisation.
  TORCH_ARG(int64_t, rank) = 8;
};

class LowRankFusionImpl : public torch::nn::Cloneable<LowRankFusionImpl>, public Fusion {
 public:
  static constexpr const char* kName = "low_rank";
  static constexpr const char* kDescription =
      "LMF: low-rank factorised tensor fusion, peer-compatible parameters (Liu 2018)";

  explicit LowRankFusionImpl(LowRankFusionOptions options) : options(std::move(options)) {
    reset();
  }

  static std::shared_ptr<LowRankFusionImpl> create(const FusionContext& ctx,
                                                   const ConfigNode& cfg) {
    cfg.check_keys({"type", "out", "rank"});
    return std::make_shared<LowRankFusionImpl>(
        LowRankFusionOptions(ctx.dims, positive_option(cfg, "out", 64))
            .rank(positive_option(cfg, "rank", 8)));
  }

  void reset() override {
    const auto& d = options.dims();
    placeholders_ = register_placeholders(*this, "placeholder_", d);
    std::vector<std::vector<int64_t>> shapes;
    for (int64_t di : d) shapes.push_back({options.rank(), di + 1, options.out()});
    factors_ = register_module("factors", LowRankFactors(shapes));
    rank_weights_ = register_parameter("rank_weights", torch::empty({1, options.rank()}));
    torch::nn::init::xavier_normal_(rank_weights_);
    bias_ = register_parameter("bias", torch::zeros({1, options.out()}));
  }

  /// inputs[i].pooled: [B, D_i] -> [z_i, 1] @ factors.i: [rank, B, out] -> product over
  /// modalities -> rank-weighted sum + bias: fused [B, out]
  FusionOutput fuse(const std::vector<nn::Encoded>& inputs) override {
    check_inputs(kName, inputs, options.dims());
    torch::Tensor prod;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      auto z = fill_missing(inputs[i].pooled, inputs[i].present, placeholders_[i]);
      z = torch::cat({z, torch::ones({z.size(0), 1}, z.options())}, 1);  // [B, D_i + 1]
      auto proj = torch::matmul(z, (*factors_)[i]);  // batched over rank: [rank, B, out]
      prod = prod.defined() ? prod * proj : proj;
    }
    // [1, rank] @ [B, rank, out] -> [B, 1, out]
    auto fused = torch::matmul(rank_weights_, prod.permute({1, 0, 2})).squeeze(1) + bias_;
    return {fused, {}};
  }

  int64_t out_dim() const override { return options.out(); }

  LowRankFusionOptions options;

 private:
  std::vector<torch::Tensor> placeholders_;
  LowRankFactors factors_ = nullptr;
  torch::Tensor rank_weights_;
  torch::Tensor bias_;
};
TORCH_MODULE(LowRankFusion);

}  // namespace mmfuse::fusion
