// MLP encoder for tabular or precomputed features: [B, ...] flattened to [B, D_in], then
// Linear -> [norm] -> activation -> [dropout] per hidden size.
#pragma once

#include <algorithm>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "mmfuse/nn/encoders/activation.h"
#include "mmfuse/nn/encoders/encoder.h"

namespace mmfuse::encoders {

enum class Norm { none, batch, layer };

/// The one string table of Norm.
inline const EnumNames<Norm>& norm_names() {
  static const EnumNames<Norm> names = {
      {Norm::none, "none"}, {Norm::batch, "batch"}, {Norm::layer, "layer"}};
  return names;
}

struct MlpEncoderOptions {
  MlpEncoderOptions(int64_t in_dim, std::vector<int64_t> hidden)
      : in_dim_(in_dim), hidden_(std::move(hidden)) {}
  /// D_in: features per sample after flattening.
  TORCH_ARG(int64_t, in_dim);
  /// Output size of each layer; the last one is the encoder's output size D.
  TORCH_ARG(std::vector<int64_t>, hidden);
  /// After every layer.
  TORCH_ARG(Activation, activation) = Activation::relu;
  /// Dropout probability after every activation.
  TORCH_ARG(double, dropout) = 0.0;
  /// Normalisation between each Linear and its activation.
  TORCH_ARG(Norm, norm) = Norm::none;
};

class MlpEncoderImpl : public torch::nn::Cloneable<MlpEncoderImpl>, public Encoder {
 public:
  static constexpr const char* kName = "mlp";
  static constexpr const char* kDescription =
      "MLP over flattened tabular/precomputed features (hidden sizes, activation, norm, dropout)";

  explicit MlpEncoderImpl(MlpEncoderOptions options) : options(std::move(options)) { reset(); }

  /// Keys: hidden (list of sizes, default [128]), activation (none|relu|tanh|gelu), dropout,
  /// norm (none|batch|layer).
  static std::shared_ptr<MlpEncoderImpl> create(const EncoderContext& ctx, const ConfigNode& cfg) {
    cfg.check_keys({"type", "hidden", "activation", "dropout", "norm"});
    int64_t in_dim = std::accumulate(ctx.input_shape.begin(), ctx.input_shape.end(), int64_t{1},
                                     std::multiplies<int64_t>());
    if (ctx.input_shape.empty() || std::any_of(ctx.input_shape.begin(), ctx.input_shape.end(),
                                               [](int64_t d) { return d < 1; })) {
      cfg.fail(
          "mlp needs a fixed per-item input shape (e.g. [D]); variable-length inputs need a "
          "sequence encoder (lstm, gru, transformer)");
    }
    MlpEncoderOptions o(in_dim, cfg.get<std::vector<int64_t>>("hidden", {128}));
    o.activation(read_enum(cfg, "activation", o.activation(), activation_names()));
    o.dropout(cfg.get<double>("dropout", o.dropout()));
    o.norm(read_enum(cfg, "norm", o.norm(), norm_names()));
    if (o.hidden().empty()) cfg["hidden"].fail("expected at least one size; use identity instead");
    for (int64_t h : o.hidden()) {
      if (h < 1) cfg["hidden"].fail("expected positive sizes");
    }
    if (o.dropout() < 0 || o.dropout() >= 1) cfg["dropout"].fail("expected a value in [0, 1)");
    return std::make_shared<MlpEncoderImpl>(o);
  }

  void reset() override {
    net = torch::nn::Sequential();
    int64_t in = options.in_dim();
    for (int64_t h : options.hidden()) {
      net->push_back(torch::nn::Linear(in, h));
      if (options.norm() == Norm::batch) net->push_back(torch::nn::BatchNorm1d(h));
      if (options.norm() == Norm::layer) {
        net->push_back(torch::nn::LayerNorm(torch::nn::LayerNormOptions({h})));
      }
      push_activation(net, options.activation());
      if (options.dropout() > 0) net->push_back(torch::nn::Dropout(options.dropout()));
      in = h;
    }
    net = register_module("net", net);
  }

  /// features [B, ...] (D_in values per sample) -> pooled [B, D]
  nn::Encoded encode(const data::ModalityBatch& input) override {
    auto x = input.data.flatten(1);
    TORCH_CHECK(x.size(1) == options.in_dim(), "mlp expected ", options.in_dim(),
                " features per sample, got ", x.size(1), " (input ", input.data.sizes(),
                "); the encoder was built for another input shape");
    nn::Encoded enc;
    enc.pooled = net->forward(x.to(torch::kFloat));
    enc.present = input.present;
    return enc;
  }

  int64_t out_dim() const override { return options.hidden().back(); }

  MlpEncoderOptions options;
  torch::nn::Sequential net{nullptr};
};
TORCH_MODULE(MlpEncoder);

}  // namespace mmfuse::encoders
