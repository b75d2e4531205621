// Transformer encoder over token ids (embedding) or frames / spectrograms (linear projection),
// with learned or sinusoidal positions and a key padding mask from the lengths. LibTorch's
// TransformerEncoderLayer passes src_key_padding_mask to its MultiheadAttention as the key
// padding mask (1.13 and 2.x), so padded steps never reach the valid ones.
#pragma once

#include <cmath>
#include <memory>
#include <string>

#include "mmfuse/nn/encoders/encoder.h"
#include "mmfuse/nn/encoders/sequence.h"

namespace mmfuse::encoders {

enum class PositionKind { learned, sinusoidal };

/// The one string table of PositionKind.
inline const EnumNames<PositionKind>& position_kind_names() {
  static const EnumNames<PositionKind> names = {{PositionKind::learned, "learned"},
                                                {PositionKind::sinusoidal, "sinusoidal"}};
  return names;
}

struct TransformerEncoderOptions {
  TransformerEncoderOptions(SequenceInput input, int64_t input_size)
      : input_(input), input_size_(input_size) {}
  /// What the data holds: token ids, frames or a spectrogram.
  TORCH_ARG(SequenceInput, input);
  /// Features per step: F for frames/spectrograms, the vocabulary size for token ids.
  TORCH_ARG(int64_t, input_size);
  /// Model width (size of every token).
  TORCH_ARG(int64_t, d_model) = 64;
  /// Attention heads (must divide d_model).
  TORCH_ARG(int64_t, heads) = 4;
  /// Encoder layers.
  TORCH_ARG(int64_t, layers) = 2;
  /// Hidden units of each layer's feed-forward block.
  TORCH_ARG(int64_t, ff_dim) = 128;
  /// Dropout probability inside the layers.
  TORCH_ARG(double, dropout) = 0.1;
  /// learned: a trained vector per position; sinusoidal: fixed sin/cos of Vaswani et al.
  TORCH_ARG(PositionKind, positions) = PositionKind::learned;
  /// Longest sequence (steps) the learned positions cover.
  TORCH_ARG(int64_t, max_len) = 512;
  /// cls: a learned token prepended to the sequence; mean: the mean over valid steps.
  TORCH_ARG(Pooling, pooling) = Pooling::cls;
};

class TransformerEncoderImpl : public torch::nn::Cloneable<TransformerEncoderImpl>, public Encoder {
 public:
  static constexpr const char* kName = "transformer";
  static constexpr const char* kDescription =
      "Transformer encoder over token ids or frames, padding-masked, cls or masked-mean pooling";

  explicit TransformerEncoderImpl(TransformerEncoderOptions options) : options(std::move(options)) {
    reset();
  }

  /// Keys: d_model, heads, layers, ff_dim, dropout, positions (learned|sinusoidal), max_len,
  /// pooling (cls|mean).
  static std::shared_ptr<TransformerEncoderImpl> create(const EncoderContext& ctx,
                                                        const ConfigNode& cfg) {
    cfg.check_keys({"type", "d_model", "heads", "layers", "ff_dim", "dropout", "positions",
                    "max_len", "pooling"});
    SequenceInput kind = sequence_input_from_shape(ctx.input_shape, cfg);
    int64_t size = sequence_feature_size(kind, ctx.input_shape);
    if (kind == SequenceInput::token_ids) {
      if (ctx.vocab_size <= 0) cfg.fail("token ids need the vocabulary size from the pipeline");
      size = ctx.vocab_size;
    }
    TransformerEncoderOptions o(kind, size);
    int64_t steps = kind == SequenceInput::spectrogram ? ctx.input_shape[2] : ctx.input_shape[0];
    if (steps > 0) o.max_len(steps);
    o.d_model(cfg.get<int64_t>("d_model", o.d_model()));
    o.heads(cfg.get<int64_t>("heads", o.heads()));
    o.layers(cfg.get<int64_t>("layers", o.layers()));
    o.ff_dim(cfg.get<int64_t>("ff_dim", o.ff_dim()));
    o.dropout(cfg.get<double>("dropout", o.dropout()));
    o.max_len(cfg.get<int64_t>("max_len", o.max_len()));
    o.pooling(read_pooling(cfg, "pooling", o.pooling(), {Pooling::cls, Pooling::mean}));
    o.positions(read_enum(cfg, "positions", o.positions(), position_kind_names()));
    if (o.d_model() < 1 || o.heads() < 1 || o.d_model() % o.heads() != 0) {
      cfg["heads"].fail("expected heads dividing d_model = " + std::to_string(o.d_model()) +
                        ", got " + std::to_string(o.heads()));
    }
    if (o.layers() < 1) cfg["layers"].fail("expected at least one layer");
    if (o.ff_dim() < 1) cfg["ff_dim"].fail("expected a positive size");
    if (o.max_len() < 1) cfg["max_len"].fail("expected a positive length");
    if (o.dropout() < 0 || o.dropout() >= 1) cfg["dropout"].fail("expected a value in [0, 1)");
    return std::make_shared<TransformerEncoderImpl>(o);
  }

  void reset() override {
    const auto& o = options;
    embedding = nullptr;
    input_proj = nullptr;
    if (o.input() == SequenceInput::token_ids) {
      embedding = register_module("embedding", torch::nn::Embedding(o.input_size(), o.d_model()));
    } else {
      input_proj = register_module("input_proj", torch::nn::Linear(o.input_size(), o.d_model()));
    }
    pos_embedding =
        o.positions() == PositionKind::learned
            ? register_parameter("pos_embedding", torch::randn({o.max_len(), o.d_model()}) * 0.02)
            : torch::Tensor();
    cls_token = o.pooling() == Pooling::cls
                    ? register_parameter("cls_token", torch::randn({o.d_model()}) * 0.02)
                    : torch::Tensor();
    layers = register_module("layers", torch::nn::ModuleList());
    for (int64_t i = 0; i < o.layers(); ++i) {
      layers->push_back(torch::nn::TransformerEncoderLayer(
          torch::nn::TransformerEncoderLayerOptions(o.d_model(), o.heads())
              .dim_feedforward(o.ff_dim())
              .dropout(o.dropout())));
    }
  }

  /// data [B, T] ids | [B, T, F] | [B, 1, F, T], lengths [B] ->
  /// pooled [B, d_model], tokens [B, T, d_model] (zeros past each length), token_mask [B, T]
  nn::Encoded encode(const data::ModalityBatch& input) override {
    auto x = sequence_steps(input.data, options.input(), options.input_size(), kName);
    x = embedding ? embedding(x) : input_proj(x);  // [B, T, d]
    const int64_t batch = x.size(0), steps = x.size(1);
    TORCH_CHECK(options.positions() != PositionKind::learned || steps <= options.max_len(),
                "transformer: a sequence of ", steps,
                " steps is longer than max_len = ", options.max_len(),
                " of the learned positions; raise max_len or shorten the input");
    x = x + positions(steps, x.device()).unsqueeze(0);
    auto lengths = clamp_lengths(input.lengths, batch, steps);
    auto mask = lengths_to_mask(lengths, steps, x.device());  // [B, T] true = valid
    auto padding = ~mask;
    const bool cls = options.pooling() == Pooling::cls;
    if (cls) {
      x = torch::cat({cls_token.view({1, 1, -1}).expand({batch, 1, -1}), x}, 1);
      padding = torch::cat({torch::zeros({batch, 1}, padding.options()), padding}, 1);
    }
    auto h = x.transpose(0, 1);  // [T', B, d]: LibTorch's layers are sequence-first
    for (const auto& layer : *layers) {
      h = layer->as<torch::nn::TransformerEncoderLayer>()->forward(h, {}, padding);
    }
    h = h.transpose(0, 1);  // [B, T', d]

    nn::Encoded enc;
    auto tokens = cls ? h.narrow(1, 1, steps) : h;
    enc.tokens = tokens.masked_fill(~mask.unsqueeze(2), 0.0);
    enc.pooled = cls ? h.select(1, 0) : masked_pool(tokens, mask, Pooling::mean);
    if (input.lengths.defined()) enc.token_mask = mask;
    enc.present = input.present;
    return enc;
  }

  int64_t out_dim() const override { return options.d_model(); }
  int64_t token_dim() const override { return options.d_model(); }

  TransformerEncoderOptions options;
  torch::nn::Embedding embedding{nullptr};
  torch::nn::Linear input_proj{nullptr};
  torch::Tensor pos_embedding;  ///< [max_len, d_model] (learned positions only)
  torch::Tensor cls_token;      ///< [d_model] (cls pooling only)
  torch::nn::ModuleList layers{nullptr};

 private:
  /// -> [T, d_model]: learned rows or sin/cos at wavelengths 2*pi * 10000^(2i/d).
  torch::Tensor positions(int64_t steps, const torch::Device& device) const {
    if (options.positions() == PositionKind::learned) return pos_embedding.narrow(0, 0, steps);
    const int64_t d = options.d_model();
    auto pos = torch::arange(steps, torch::kFloat).unsqueeze(1);
    auto freq = torch::exp(torch::arange(0, d, 2, torch::kFloat) * (-std::log(10000.0) / d));
    auto table = torch::zeros({steps, d});
    table.index_put_({torch::indexing::Slice(), torch::indexing::Slice(0, d, 2)},
                     torch::sin(pos * freq));
    table.index_put_({torch::indexing::Slice(), torch::indexing::Slice(1, d, 2)},
                     torch::cos(pos * freq).narrow(1, 0, d / 2));
    return table.to(device);
  }
};
TORCH_MODULE(TransformerEncoder);

}  // namespace mmfuse::encoders
