// MLP head: Linear(in, hidden) -> ReLU -> [Dropout] -> Linear(hidden, out), as the Sequential
// "net", so without dropout the keys are net.0.* and net.2.* like the peer's
// nn.Sequential(Linear, ReLU, Linear).
#pragma once

#include <memory>

#include "mmfuse/nn/heads/head.h"

namespace mmfuse::heads {

struct MlpHeadOptions {
  MlpHeadOptions(int64_t in_dim, int64_t out_dim) : in_dim_(in_dim), out_dim_(out_dim) {}
  /// Size of the fused representation.
  TORCH_ARG(int64_t, in_dim);
  /// Classes, regression outputs or embedding size.
  TORCH_ARG(int64_t, out_dim);
  /// Hidden units (100 in the MultiBench AV-MNIST recipes).
  TORCH_ARG(int64_t, hidden) = 100;
  /// Dropout probability after the ReLU (0: no Dropout module, second Linear at net.2).
  TORCH_ARG(double, dropout) = 0.0;
};

class MlpHeadImpl : public torch::nn::Cloneable<MlpHeadImpl>, public Head {
 public:
  static constexpr const char* kName = "mlp";
  static constexpr const char* kDescription = "Linear -> ReLU -> [Dropout] -> Linear";

  explicit MlpHeadImpl(MlpHeadOptions options) : options(std::move(options)) { reset(); }

  /// Keys: hidden, dropout.
  static std::shared_ptr<MlpHeadImpl> create(const HeadContext& ctx, const ConfigNode& cfg) {
    cfg.check_keys({"type", "hidden", "dropout"});
    if (ctx.in_dim < 1 || ctx.out_dim < 1) {
      cfg.fail("mlp head needs positive sizes, got in " + std::to_string(ctx.in_dim) + ", out " +
               std::to_string(ctx.out_dim) + " for target '" + ctx.target + "'");
    }
    MlpHeadOptions o(ctx.in_dim, ctx.out_dim);
    o.hidden(cfg.get<int64_t>("hidden", o.hidden()));
    o.dropout(cfg.get<double>("dropout", o.dropout()));
    if (o.hidden() < 1) cfg["hidden"].fail("expected a positive size");
    if (o.dropout() < 0 || o.dropout() >= 1) cfg["dropout"].fail("expected a value in [0, 1)");
    return std::make_shared<MlpHeadImpl>(o);
  }

  void reset() override {
    net = torch::nn::Sequential(torch::nn::Linear(options.in_dim(), options.hidden()),
                                torch::nn::ReLU());
    if (options.dropout() > 0) net->push_back(torch::nn::Dropout(options.dropout()));
    net->push_back(torch::nn::Linear(options.hidden(), options.out_dim()));
    net = register_module("net", net);
  }

  /// z [B, in_dim] -> [B, out_dim]
  torch::Tensor predict(const torch::Tensor& z) override {
    TORCH_CHECK(z.dim() == 2 && z.size(1) == options.in_dim(), "mlp head expected [B, ",
                options.in_dim(), "], got ", z.sizes(), "; the fusion's out_dim must match");
    return net->forward(z);
  }

  int64_t out_dim() const override { return options.out_dim(); }

  MlpHeadOptions options;
  torch::nn::Sequential net{nullptr};
};
TORCH_MODULE(MlpHead);

}  // namespace mmfuse::heads
