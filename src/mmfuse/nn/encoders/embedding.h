// Word-embedding text encoder (word2vec-style bag of embeddings): trainable embedding of token
// ids, pooled over the valid tokens; optionally initialised from a word2vec/GloVe text file.
#pragma once

#include <memory>
#include <string>

#include "mmfuse/nn/encoders/encoder.h"
#include "mmfuse/nn/encoders/sequence.h"
#include "mmfuse/nn/encoders/word_vectors.h"

namespace mmfuse::encoders {

struct EmbeddingEncoderOptions {
  explicit EmbeddingEncoderOptions(int64_t vocab_size) : vocab_size_(vocab_size) {}
  /// Number of token ids (rows of the table).
  TORCH_ARG(int64_t, vocab_size);
  /// Size of each word vector.
  TORCH_ARG(int64_t, dim) = 64;
  /// mean, max or sum over the valid tokens.
  TORCH_ARG(Pooling, pooling) = Pooling::mean;
};

class EmbeddingEncoderImpl : public torch::nn::Cloneable<EmbeddingEncoderImpl>, public Encoder {
 public:
  static constexpr const char* kName = "embedding";
  static constexpr const char* kDescription =
      "word embeddings of token ids pooled over valid tokens (mean/max/sum), word2vec/GloVe init";

  explicit EmbeddingEncoderImpl(EmbeddingEncoderOptions options) : options(std::move(options)) {
    reset();
  }

  /// Keys: dim, pooling (mean|max|sum), vectors_file (word2vec/GloVe text; needs the context's
  /// vocabulary). Ensures: rows of tokens found in vectors_file hold their pretrained vectors.
  static std::shared_ptr<EmbeddingEncoderImpl> create(const EncoderContext& ctx,
                                                      const ConfigNode& cfg) {
    cfg.check_keys({"type", "dim", "pooling", "vectors_file"});
    if (ctx.input_shape.size() != 1 || ctx.vocab_size <= 0) {
      cfg.fail("embedding expects token ids (per-item shape [T] and a vocabulary size), got rank " +
               std::to_string(ctx.input_shape.size()) + " and vocab_size " +
               std::to_string(ctx.vocab_size) + "; use embedding_bag for bag-of-words vectors");
    }
    EmbeddingEncoderOptions o(ctx.vocab_size);
    o.dim(cfg.get<int64_t>("dim", o.dim()));
    o.pooling(
        read_pooling(cfg, "pooling", o.pooling(), {Pooling::mean, Pooling::max, Pooling::sum}));
    if (o.dim() < 1) cfg["dim"].fail("expected a positive size");
    auto encoder = std::make_shared<EmbeddingEncoderImpl>(o);
    if (cfg.has("vectors_file")) {
      if (static_cast<int64_t>(ctx.vocabulary.size()) != ctx.vocab_size) {
        cfg["vectors_file"].fail("needs the vocabulary (" + std::to_string(ctx.vocab_size) +
                                 " tokens) in the encoder context, got " +
                                 std::to_string(ctx.vocabulary.size()) +
                                 "; the model builder must pass the pipeline's vocabulary");
      }
      load_word_vectors(cfg.get<std::string>("vectors_file"), ctx.vocabulary,
                        encoder->embedding->weight);
    }
    return encoder;
  }

  void reset() override {
    embedding =
        register_module("embedding", torch::nn::Embedding(options.vocab_size(), options.dim()));
  }

  /// ids [B, T] int64, lengths [B] -> pooled [B, dim], tokens [B, T, dim], token_mask [B, T]
  nn::Encoded encode(const data::ModalityBatch& input) override {
    auto ids = sequence_steps(input.data, SequenceInput::token_ids, 0, kName);
    auto tokens = embedding(ids);
    auto lengths = clamp_lengths(input.lengths, ids.size(0), ids.size(1));
    auto mask = lengths_to_mask(lengths, ids.size(1), tokens.device());
    nn::Encoded enc;
    enc.pooled = masked_pool(tokens, mask, options.pooling());
    enc.tokens = tokens;
    if (input.lengths.defined()) enc.token_mask = mask;
    enc.present = input.present;
    return enc;
  }

  int64_t out_dim() const override { return options.dim(); }
  int64_t token_dim() const override { return options.dim(); }

  EmbeddingEncoderOptions options;
  torch::nn::Embedding embedding{nullptr};
};
TORCH_MODULE(EmbeddingEncoder);

}  // namespace mmfuse::encoders
