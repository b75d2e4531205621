// Bag-of-words / TF-IDF encoder: a linear map of the count or weight vector [B, V] to [B, D]
// (the sum of the word vectors weighted by the counts, i.e. an embedding bag), plus an optional
// activation.
#pragma once

#include <memory>

#include "mmfuse/nn/encoders/activation.h"
#include "mmfuse/nn/encoders/encoder.h"

namespace mmfuse::encoders {

struct EmbeddingBagEncoderOptions {
  explicit EmbeddingBagEncoderOptions(int64_t vocab_size) : vocab_size_(vocab_size) {}
  /// V: length of the bag-of-words / TF-IDF vector.
  TORCH_ARG(int64_t, vocab_size);
  /// D: size of each word vector and of the output.
  TORCH_ARG(int64_t, dim) = 64;
  /// Applied to the weighted sum.
  TORCH_ARG(Activation, activation) = Activation::none;
};

class EmbeddingBagEncoderImpl : public torch::nn::Cloneable<EmbeddingBagEncoderImpl>,
                                public Encoder {
 public:
  static constexpr const char* kName = "embedding_bag";
  static constexpr const char* kDescription =
      "bag-of-words / TF-IDF vector [B, V] -> weighted sum of word vectors [B, D]";

  explicit EmbeddingBagEncoderImpl(EmbeddingBagEncoderOptions options)
      : options(std::move(options)) {
    reset();
  }

  /// Keys: dim, activation (none|relu|tanh|gelu).
  static std::shared_ptr<EmbeddingBagEncoderImpl> create(const EncoderContext& ctx,
                                                         const ConfigNode& cfg) {
    cfg.check_keys({"type", "dim", "activation"});
    if (ctx.input_shape.size() != 1 || ctx.input_shape[0] < 1) {
      cfg.fail("embedding_bag expects bag-of-words vectors with a per-item shape [V]; got rank " +
               std::to_string(ctx.input_shape.size()) + "; use embedding for token id sequences");
    }
    EmbeddingBagEncoderOptions o(ctx.input_shape[0]);
    o.dim(cfg.get<int64_t>("dim", o.dim()));
    o.activation(read_enum(cfg, "activation", o.activation(), activation_names()));
    if (o.dim() < 1) cfg["dim"].fail("expected a positive size");
    return std::make_shared<EmbeddingBagEncoderImpl>(o);
  }

  void reset() override {
    proj = register_module(
        "proj", torch::nn::Linear(
                    torch::nn::LinearOptions(options.vocab_size(), options.dim()).bias(false)));
  }

  /// bow [B, V] float -> pooled [B, D]
  nn::Encoded encode(const data::ModalityBatch& input) override {
    const auto& x = input.data;
    TORCH_CHECK(x.dim() == 2 && x.size(1) == options.vocab_size() && x.is_floating_point(),
                "embedding_bag expected float vectors [B, ", options.vocab_size(), "], got ",
                x.sizes(), " ", x.scalar_type(), "; token id sequences need the embedding encoder");
    nn::Encoded enc;
    enc.pooled = activate(proj(x), options.activation());
    enc.present = input.present;
    return enc;
  }

  int64_t out_dim() const override { return options.dim(); }

  EmbeddingBagEncoderOptions options;
  torch::nn::Linear proj{nullptr};
};
TORCH_MODULE(EmbeddingBagEncoder);

}  // namespace mmfuse::encoders
