// Projection head for retrieval: z [B, in] -> L2-normalised embedding [B, out], through one
// Linear or a small MLP (Linear -> ReLU -> Linear), as the Sequential "net".
#pragma once

#include <memory>

#include "mmfuse/nn/heads/head.h"

namespace mmfuse::heads {

struct ProjectionHeadOptions {
  ProjectionHeadOptions(int64_t in_dim, int64_t out_dim) : in_dim_(in_dim), out_dim_(out_dim) {}
  /// Size of the representation.
  TORCH_ARG(int64_t, in_dim);
  /// Embedding size.
  TORCH_ARG(int64_t, out_dim);
  /// Hidden units of the MLP; 0 for a single Linear.
  TORCH_ARG(int64_t, hidden) = 0;
};

class ProjectionHeadImpl : public torch::nn::Cloneable<ProjectionHeadImpl>, public Head {
 public:
  static constexpr const char* kName = "projection";
  static constexpr const char* kDescription =
      "Linear or Linear-ReLU-Linear projection to an L2-normalised embedding (retrieval)";

  explicit ProjectionHeadImpl(ProjectionHeadOptions options) : options(std::move(options)) {
    reset();
  }

  /// Keys: hidden (0 = one Linear).
  static std::shared_ptr<ProjectionHeadImpl> create(const HeadContext& ctx, const ConfigNode& cfg) {
    cfg.check_keys({"type", "hidden"});
    if (ctx.in_dim < 1 || ctx.out_dim < 1) {
      cfg.fail("projection head needs positive sizes, got in " + std::to_string(ctx.in_dim) +
               ", out " + std::to_string(ctx.out_dim) + " for target '" + ctx.target + "'");
    }
    ProjectionHeadOptions o(ctx.in_dim, ctx.out_dim);
    o.hidden(cfg.get<int64_t>("hidden", o.hidden()));
    if (o.hidden() < 0) cfg["hidden"].fail("expected 0 (one Linear) or a positive size");
    return std::make_shared<ProjectionHeadImpl>(o);
  }

  void reset() override {
    const auto& o = options;
    net = o.hidden() == 0
              ? torch::nn::Sequential(torch::nn::Linear(o.in_dim(), o.out_dim()))
              : torch::nn::Sequential(torch::nn::Linear(o.in_dim(), o.hidden()), torch::nn::ReLU(),
                                      torch::nn::Linear(o.hidden(), o.out_dim()));
    net = register_module("net", net);
  }

  /// z [B, in_dim] -> [B, out_dim] with unit L2 norm per row
  torch::Tensor predict(const torch::Tensor& z) override {
    TORCH_CHECK(z.dim() == 2 && z.size(1) == options.in_dim(), "projection head expected [B, ",
                options.in_dim(), "], got ", z.sizes(), "; the encoder's out_dim must match");
    return torch::nn::functional::normalize(
        net->forward(z), torch::nn::functional::NormalizeFuncOptions().p(2).dim(1));
  }

  int64_t out_dim() const override { return options.out_dim(); }

  ProjectionHeadOptions options;
  torch::nn::Sequential net{nullptr};
};
TORCH_MODULE(ProjectionHead);

}  // namespace mmfuse::heads
