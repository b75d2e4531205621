// Linear head: z [B, in] -> [B, out] with one affine map, optionally after dropout of its input
// in training (`dropout: 0.3`; no parameters, so the keys stay linear.*).
#pragma once

#include <memory>

#include "mmfuse/nn/heads/head.h"

namespace mmfuse::heads {

struct LinearHeadOptions {
  LinearHeadOptions(int64_t in_dim, int64_t out_dim) : in_dim_(in_dim), out_dim_(out_dim) {}
  /// Size of the fused representation.
  TORCH_ARG(int64_t, in_dim);
  /// Classes, regression outputs or embedding size.
  TORCH_ARG(int64_t, out_dim);
  /// Probability of zeroing an input component in training (0: none).
  TORCH_ARG(double, dropout) = 0.0;
};

class LinearHeadImpl : public torch::nn::Cloneable<LinearHeadImpl>, public Head {
 public:
  static constexpr const char* kName = "linear";
  static constexpr const char* kDescription =
      "one Linear layer (logistic/linear regression), dropout of its input in training";

  explicit LinearHeadImpl(LinearHeadOptions options) : options(std::move(options)) { reset(); }

  /// Keys: dropout.
  static std::shared_ptr<LinearHeadImpl> create(const HeadContext& ctx, const ConfigNode& cfg) {
    cfg.check_keys({"type", "dropout"});
    if (ctx.in_dim < 1 || ctx.out_dim < 1) {
      cfg.fail("linear head needs positive sizes, got in " + std::to_string(ctx.in_dim) + ", out " +
               std::to_string(ctx.out_dim) + " for target '" + ctx.target + "'");
    }
    LinearHeadOptions o(ctx.in_dim, ctx.out_dim);
    o.dropout(cfg.get<double>("dropout", o.dropout()));
    if (!(o.dropout() >= 0 && o.dropout() < 1)) cfg["dropout"].fail("expected a value in [0, 1)");
    return std::make_shared<LinearHeadImpl>(o);
  }

  void reset() override {
    linear = register_module("linear", torch::nn::Linear(options.in_dim(), options.out_dim()));
  }

  /// z [B, in_dim] -> [B, out_dim]
  torch::Tensor predict(const torch::Tensor& z) override {
    TORCH_CHECK(z.dim() == 2 && z.size(1) == options.in_dim(), "linear head expected [B, ",
                options.in_dim(), "], got ", z.sizes(), "; the fusion's out_dim must match");
    if (options.dropout() > 0 && is_training())
      return linear(torch::dropout(z, options.dropout(), /*train=*/true));
    return linear(z);
  }

  int64_t out_dim() const override { return options.out_dim(); }

  LinearHeadOptions options;
  torch::nn::Linear linear{nullptr};
};
TORCH_MODULE(LinearHead);

}  // namespace mmfuse::heads
