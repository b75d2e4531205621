// Identity encoder: the input, flattened (precomputed features that need no learning).
#pragma once

#include <algorithm>
#include <memory>
#include <numeric>

#include "mmfuse/nn/encoders/encoder.h"

namespace mmfuse::encoders {

struct IdentityEncoderOptions {
  explicit IdentityEncoderOptions(int64_t dim) : dim_(dim) {}
  /// D: values per sample (the product of the per-item input shape).
  TORCH_ARG(int64_t, dim);
};

class IdentityEncoderImpl : public torch::nn::Cloneable<IdentityEncoderImpl>, public Encoder {
 public:
  static constexpr const char* kName = "identity";
  static constexpr const char* kDescription = "the input flattened to [B, D] (no parameters)";

  explicit IdentityEncoderImpl(IdentityEncoderOptions options) : options(std::move(options)) {
    reset();
  }

  /// No keys besides type.
  static std::shared_ptr<IdentityEncoderImpl> create(const EncoderContext& ctx,
                                                     const ConfigNode& cfg) {
    cfg.check_keys({"type"});
    int64_t dim = std::accumulate(ctx.input_shape.begin(), ctx.input_shape.end(), int64_t{1},
                                  std::multiplies<int64_t>());
    if (ctx.input_shape.empty() || std::any_of(ctx.input_shape.begin(), ctx.input_shape.end(),
                                               [](int64_t d) { return d < 1; })) {
      cfg.fail(
          "identity needs a fixed per-item input shape (e.g. [D]); got a variable or empty one");
    }
    return std::make_shared<IdentityEncoderImpl>(IdentityEncoderOptions(dim));
  }

  void reset() override {}

  /// features [B, ...] -> pooled [B, D] (float)
  nn::Encoded encode(const data::ModalityBatch& input) override {
    auto x = input.data.flatten(1);
    TORCH_CHECK(x.size(1) == options.dim(), "identity expected ", options.dim(),
                " values per sample, got ", x.size(1), " (input ", input.data.sizes(), ")");
    nn::Encoded enc;
    enc.pooled = x.to(torch::kFloat);
    enc.present = input.present;
    return enc;
  }

  int64_t out_dim() const override { return options.dim(); }

  IdentityEncoderOptions options;
};
TORCH_MODULE(IdentityEncoder);

}  // namespace mmfuse::encoders
