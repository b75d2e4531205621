// Tiny encoder / fusion / head blocks registered into test-local registries, so the model layer is
// tested against the block interfaces alone (independent of the built-in blocks).
#pragma once

#include "mmfuse/models/build.h"
#include "mmfuse/nn/fusion/concat.h"

namespace mmfuse::testing {

/// Flatten -> Linear(in, dim); with `tokens: true` also tokens [B, 2, dim] (pooled and 2*pooled).
struct TinyEncoderOptions {
  TinyEncoderOptions(int64_t in, int64_t dim) : in_(in), dim_(dim) {}
  /// Flattened input size.
  TORCH_ARG(int64_t, in);
  /// Output size.
  TORCH_ARG(int64_t, dim);
  /// Whether to give a token sequence.
  TORCH_ARG(bool, tokens) = false;
};

class TinyEncoderImpl : public torch::nn::Cloneable<TinyEncoderImpl>, public encoders::Encoder {
 public:
  static constexpr const char* kName = "tiny";
  static constexpr const char* kDescription = "flatten + linear (tests)";
  explicit TinyEncoderImpl(TinyEncoderOptions o) : options(o) { reset(); }
  static std::shared_ptr<TinyEncoderImpl> create(const encoders::EncoderContext& ctx,
                                                 const ConfigNode& cfg) {
    cfg.check_keys({"type", "dim", "tokens"});
    int64_t in = 1;
    for (int64_t d : ctx.input_shape) in *= d;
    return std::make_shared<TinyEncoderImpl>(
        TinyEncoderOptions(in, cfg.get<int64_t>("dim")).tokens(cfg.get<bool>("tokens", false)));
  }
  void reset() override {
    proj = register_module("proj", torch::nn::Linear(options.in(), options.dim()));
  }
  nn::Encoded encode(const data::ModalityBatch& input) override {
    nn::Encoded e;
    e.pooled = proj(input.data.flatten(1));                                      // [B, dim]
    if (options.tokens()) e.tokens = torch::stack({e.pooled, 2 * e.pooled}, 1);  // [B, 2, dim]
    return e;
  }
  int64_t out_dim() const override { return options.dim(); }
  int64_t token_dim() const override { return options.tokens() ? options.dim() : 0; }
  TinyEncoderOptions options;
  torch::nn::Linear proj{nullptr};
};
TORCH_MODULE(TinyEncoder);

/// Mean over each modality's tokens, concatenated: [B, sum Dt_i]. Needs tokens.
class TokenMeanFusionImpl : public torch::nn::Cloneable<TokenMeanFusionImpl>,
                            public fusion::Fusion {
 public:
  static constexpr const char* kName = "token_mean";
  static constexpr const char* kDescription = "mean of tokens (tests)";
  explicit TokenMeanFusionImpl(std::vector<int64_t> dims) : dims_(std::move(dims)) { reset(); }
  static std::shared_ptr<TokenMeanFusionImpl> create(const fusion::FusionContext& ctx,
                                                     const ConfigNode& cfg) {
    return std::make_shared<TokenMeanFusionImpl>(ctx.token_dims);
  }
  void reset() override { scale = register_parameter("scale", torch::ones({1})); }
  fusion::FusionOutput fuse(const std::vector<nn::Encoded>& inputs) override {
    std::vector<torch::Tensor> parts;
    for (const auto& e : inputs) parts.push_back(e.tokens.mean(1) * scale);
    return {torch::cat(parts, 1), {{"aux", scale.sum()}}};
  }
  int64_t out_dim() const override {
    int64_t s = 0;
    for (int64_t d : dims_) s += d;
    return s;
  }
  bool needs_tokens() const override { return true; }
  torch::Tensor scale;

 private:
  std::vector<int64_t> dims_;
};
TORCH_MODULE(TokenMeanFusion);

/// Linear(in_dim, out_dim).
class TinyHeadImpl : public torch::nn::Cloneable<TinyHeadImpl>, public heads::Head {
 public:
  static constexpr const char* kName = "tiny_linear";
  static constexpr const char* kDescription = "linear (tests)";
  TinyHeadImpl(int64_t in, int64_t out) : in_(in), out_(out) { reset(); }
  static std::shared_ptr<TinyHeadImpl> create(const heads::HeadContext& ctx,
                                              const ConfigNode& cfg) {
    cfg.check_keys({"type"});  // `weight` is the model's business and must not reach the head
    return std::make_shared<TinyHeadImpl>(ctx.in_dim, ctx.out_dim);
  }
  void reset() override { fc = register_module("fc", torch::nn::Linear(in_, out_)); }
  torch::Tensor predict(const torch::Tensor& z) override { return fc(z); }
  int64_t out_dim() const override { return out_; }
  torch::nn::Linear fc{nullptr};

 private:
  int64_t in_, out_;
};
TORCH_MODULE(TinyHead);

/// Registries holding the tiny blocks (and the real concat fusion).
struct TinyRegistries {
  encoders::EncoderRegistry encoders{"encoder"};
  fusion::FusionRegistry fusions{"fusion"};
  heads::HeadRegistry heads{"head"};
  TinyRegistries() {
    encoders.add<TinyEncoderImpl>();
    fusions.add<fusion::ConcatFusionImpl>();
    fusions.add<TokenMeanFusionImpl>();
    heads.add<TinyHeadImpl>();
  }
  models::Registries get() const { return {&encoders, &fusions, &heads}; }
};

}  // namespace mmfuse::testing
