// Tensor fusion (Zadeh et al. 2017): the outer product of the modality vectors, each with a 1
// appended, flattened exactly like the peer's TensorFusion:
//   a = [z0, 1], b = [z1, 1]: bmm(a.unsqueeze(2), b.unsqueeze(1)).flatten(1), index i*(d1+1)+j;
//   for 3 modalities the result is folded again with c = [z2, 1]: index (i*(d1+1)+j)*(d2+1)+k.
// Output size prod_i (d_i + 1). Absent modalities get learned placeholder vectors.
#pragma once

#include "mmfuse/nn/fusion/common.h"
#include "mmfuse/nn/fusion/missing.h"

namespace mmfuse::fusion {

struct TensorFusionOptions {
  explicit TensorFusionOptions(std::vector<int64_t> dims) : dims_(std::move(dims)) {}
  /// Pooled size of each input modality, in order.
  TORCH_ARG(std::vector<int64_t>, dims);
};

class TensorFusionImpl : public torch::nn::Cloneable<TensorFusionImpl>, public Fusion {
 public:
  static constexpr const char* kName = "tensor";
  static constexpr const char* kDescription =
      "TFN: flattened outer product of [z_i, 1] over the modalities (Zadeh 2017)";
  /// Largest output size accepted (the product grows fast with more modalities).
  static constexpr int64_t kMaxOutDim = int64_t{1} << 20;

  explicit TensorFusionImpl(TensorFusionOptions options) : options(std::move(options)) { reset(); }

  static std::shared_ptr<TensorFusionImpl> create(const FusionContext& ctx, const ConfigNode& cfg) {
    cfg.check_keys({"type"});
    auto f = std::make_shared<TensorFusionImpl>(TensorFusionOptions(ctx.dims));
    if (f->out_dim() > kMaxOutDim) {
      cfg.fail("tensor fusion output would have " + std::to_string(f->out_dim()) +
               " features (prod of d_i+1), more than " + std::to_string(kMaxOutDim) +
               "; use low_rank, or project the modalities to smaller sizes first");
    }
    return f;
  }

  void reset() override {
    placeholders_ = register_placeholders(*this, "placeholder_", options.dims());
  }

  /// inputs[i].pooled: [B, D_i] -> fused [B, prod_i (D_i + 1)]
  FusionOutput fuse(const std::vector<nn::Encoded>& inputs) override {
    check_inputs(kName, inputs, options.dims());
    torch::Tensor fused;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      auto z = fill_missing(inputs[i].pooled, inputs[i].present, placeholders_[i]);
      z = torch::cat({z, torch::ones({z.size(0), 1}, z.options())}, 1);  // [B, D_i + 1]
      fused = fused.defined() ? torch::bmm(fused.unsqueeze(2), z.unsqueeze(1)).flatten(1) : z;
    }
    return {fused, {}};
  }

  int64_t out_dim() const override {
    int64_t n = 1;
    for (int64_t d : options.dims()) n *= d + 1;
    return n;
  }

  TensorFusionOptions options;

 private:
  std::vector<torch::Tensor> placeholders_;
};
TORCH_MODULE(TensorFusion);

}  // namespace mmfuse::fusion
