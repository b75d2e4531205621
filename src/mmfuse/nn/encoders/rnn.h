// Recurrent encoders (lstm, gru) over frames [B, T, F], spectrograms [B, 1, F, T] or token ids
// [B, T] (through an embedding). Sequences are packed by their lengths, so padding never reaches
// the recurrence; both names share one template.
#pragma once

#include <memory>
#include <string>

#include "mmfuse/nn/encoders/encoder.h"
#include "mmfuse/nn/encoders/sequence.h"

namespace mmfuse::encoders {

struct RnnEncoderOptions {
  RnnEncoderOptions(SequenceInput input, int64_t input_size)
      : input_(input), input_size_(input_size) {}
  /// What the data holds: token ids, frames or a spectrogram.
  TORCH_ARG(SequenceInput, input);
  /// Features per step: F for frames/spectrograms, the vocabulary size for token ids.
  TORCH_ARG(int64_t, input_size);
  /// Embedding size for token ids (unused for frames).
  TORCH_ARG(int64_t, embedding_dim) = 64;
  /// Hidden units per direction.
  TORCH_ARG(int64_t, hidden_size) = 64;
  /// Stacked recurrent layers.
  TORCH_ARG(int64_t, num_layers) = 1;
  /// Run a backward direction too (outputs twice hidden_size).
  TORCH_ARG(bool, bidirectional) = false;
  /// Dropout between stacked layers (probability).
  TORCH_ARG(double, dropout) = 0.0;
  /// last: the true last step of each sample (bidirectional: forward-last ++ backward-first);
  /// mean: the mean over valid steps.
  TORCH_ARG(Pooling, pooling) = Pooling::last;
};

/// The two recurrent cells: the torch module, its options and the registered name.
struct LstmCell {
  using Module = torch::nn::LSTM;
  using Options = torch::nn::LSTMOptions;
  static constexpr const char* kName = "lstm";
  static constexpr const char* kDescription =
      "LSTM over frames or token ids (packed by length), last-step or masked-mean pooling";
};
struct GruCell {
  using Module = torch::nn::GRU;
  using Options = torch::nn::GRUOptions;
  static constexpr const char* kName = "gru";
  static constexpr const char* kDescription =
      "GRU over frames or token ids (packed by length), last-step or masked-mean pooling";
};

template <class Cell>
class RnnEncoderImpl : public torch::nn::Cloneable<RnnEncoderImpl<Cell>>, public Encoder {
 public:
  static constexpr const char* kName = Cell::kName;
  static constexpr const char* kDescription = Cell::kDescription;

  explicit RnnEncoderImpl(RnnEncoderOptions options) : options(std::move(options)) { reset(); }

  /// Keys: hidden_size, num_layers, bidirectional, dropout, pooling (last|mean), embedding_dim.
  static std::shared_ptr<RnnEncoderImpl> create(const EncoderContext& ctx, const ConfigNode& cfg) {
    cfg.check_keys({"type", "hidden_size", "num_layers", "bidirectional", "dropout", "pooling",
                    "embedding_dim"});
    SequenceInput kind = sequence_input_from_shape(ctx.input_shape, cfg);
    int64_t size = sequence_feature_size(kind, ctx.input_shape);
    if (kind == SequenceInput::token_ids) {
      if (ctx.vocab_size <= 0) cfg.fail("token ids need the vocabulary size from the pipeline");
      size = ctx.vocab_size;
    }
    RnnEncoderOptions o(kind, size);
    o.embedding_dim(cfg.get<int64_t>("embedding_dim", o.embedding_dim()));
    o.hidden_size(cfg.get<int64_t>("hidden_size", o.hidden_size()));
    o.num_layers(cfg.get<int64_t>("num_layers", o.num_layers()));
    o.bidirectional(cfg.get<bool>("bidirectional", o.bidirectional()));
    o.dropout(cfg.get<double>("dropout", o.dropout()));
    o.pooling(read_pooling(cfg, "pooling", o.pooling(), {Pooling::last, Pooling::mean}));
    if (o.hidden_size() < 1) cfg["hidden_size"].fail("expected a positive size");
    if (o.num_layers() < 1) cfg["num_layers"].fail("expected at least one layer");
    if (o.embedding_dim() < 1) cfg["embedding_dim"].fail("expected a positive size");
    if (o.dropout() < 0 || o.dropout() >= 1) cfg["dropout"].fail("expected a value in [0, 1)");
    return std::make_shared<RnnEncoderImpl>(o);
  }

  void reset() override {
    const auto& o = options;
    int64_t steps_in = o.input_size();
    embedding = nullptr;
    if (o.input() == SequenceInput::token_ids) {
      embedding = this->register_module("embedding",
                                        torch::nn::Embedding(o.input_size(), o.embedding_dim()));
      steps_in = o.embedding_dim();
    }
    rnn = this->register_module(
        "rnn", typename Cell::Module(typename Cell::Options(steps_in, o.hidden_size())
                                         .num_layers(o.num_layers())
                                         .bidirectional(o.bidirectional())
                                         .dropout(o.num_layers() > 1 ? o.dropout() : 0.0)
                                         .batch_first(true)));
  }

  /// data [B, T] ids | [B, T, F] | [B, 1, F, T], lengths [B] ->
  /// pooled [B, H * dirs], tokens [B, T, H * dirs] (zeros past each length), token_mask [B, T]
  nn::Encoded encode(const data::ModalityBatch& input) override {
    auto x = sequence_steps(input.data, options.input(), options.input_size(), kName);
    if (embedding) x = embedding(x);
    const int64_t batch = x.size(0), steps = x.size(1);
    auto lengths = clamp_lengths(input.lengths, batch, steps);
    namespace rnn_utils = torch::nn::utils::rnn;
    auto packed = rnn_utils::pack_padded_sequence(x, lengths, /*batch_first=*/true,
                                                  /*enforce_sorted=*/false);
    auto out = std::get<0>(rnn->forward_with_packed_input(packed));
    auto tokens = std::get<0>(rnn_utils::pad_packed_sequence(out, /*batch_first=*/true, 0.0,
                                                             /*total_length=*/steps));
    auto mask = lengths_to_mask(lengths, steps, tokens.device());

    nn::Encoded enc;
    enc.pooled = options.pooling() == Pooling::mean ? masked_pool(tokens, mask, Pooling::mean)
                                                    : last(tokens, lengths);
    enc.tokens = tokens;
    if (input.lengths.defined()) enc.token_mask = mask;
    enc.present = input.present;
    return enc;
  }

  int64_t out_dim() const override { return token_dim(); }
  int64_t token_dim() const override {
    return options.hidden_size() * (options.bidirectional() ? 2 : 1);
  }

  RnnEncoderOptions options;
  torch::nn::Embedding embedding{nullptr};
  typename Cell::Module rnn{nullptr};

 private:
  /// tokens [B, T, H * dirs], lengths [B] -> [B, H * dirs]: forward output at step length-1;
  /// for bidirectional, ++ the backward output at step 0 (which has read the whole sequence).
  torch::Tensor last(const torch::Tensor& tokens, const torch::Tensor& lengths) const {
    const int64_t hidden = options.hidden_size();
    auto index = (lengths - 1).to(tokens.device()).view({-1, 1, 1}).expand({-1, 1, hidden});
    auto forward = tokens.narrow(2, 0, hidden).gather(1, index).squeeze(1);
    if (!options.bidirectional()) return forward;
    auto backward = tokens.narrow(2, hidden, hidden).select(1, 0);
    return torch::cat({forward, backward}, 1);
  }
};

using LstmEncoderImpl = RnnEncoderImpl<LstmCell>;
using GruEncoderImpl = RnnEncoderImpl<GruCell>;
TORCH_MODULE(LstmEncoder);
TORCH_MODULE(GruEncoder);

}  // namespace mmfuse::encoders
