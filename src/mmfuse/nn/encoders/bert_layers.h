// The building blocks of the BERT encoder (bert.h), one Cloneable module per Hugging Face name
// level so that every parameter has BertModel's name and clone() copies them all.
#pragma once

#include <torch/torch.h>

namespace mmfuse::encoders {

struct BertOptions {
  explicit BertOptions(int64_t vocab_size) : vocab_size_(vocab_size) {}
  /// Rows of embeddings.word_embeddings (the tokenizer's vocabulary).
  TORCH_ARG(int64_t, vocab_size);
  /// Width of every token (768 = BERT-base).
  TORCH_ARG(int64_t, hidden) = 768;
  /// Transformer layers.
  TORCH_ARG(int64_t, layers) = 12;
  /// Attention heads (must divide hidden).
  TORCH_ARG(int64_t, heads) = 12;
  /// Hidden units of each layer's feed-forward block.
  TORCH_ARG(int64_t, intermediate) = 3072;
  /// Rows of embeddings.position_embeddings: the longest input in tokens.
  TORCH_ARG(int64_t, max_positions) = 512;
  /// Rows of embeddings.token_type_embeddings (segments).
  TORCH_ARG(int64_t, type_vocab) = 2;
  /// Dropout on embeddings and block outputs (training only).
  TORCH_ARG(double, dropout) = 0.1;
  /// Dropout on attention probabilities (training only).
  TORCH_ARG(double, attention_dropout) = 0.1;
  /// Epsilon of every LayerNorm.
  TORCH_ARG(double, layer_norm_eps) = 1e-12;
  /// true: pooled = tanh(pooler.dense(h[CLS])), BertModel's pooler_output; false: h[CLS] and
  /// no `pooler` module.
  TORCH_ARG(bool, use_pooler) = true;
};

/// `embeddings`: word + position + token type (0), LayerNorm, dropout.
class BertEmbeddingsImpl : public torch::nn::Cloneable<BertEmbeddingsImpl> {
 public:
  explicit BertEmbeddingsImpl(const BertOptions& o) : options(o) { reset(); }
  void reset() override;
  /// ids [B, T] int64 -> [B, T, H]
  torch::Tensor forward(const torch::Tensor& ids);

  BertOptions options;
  torch::nn::Embedding word_embeddings{nullptr}, position_embeddings{nullptr},
      token_type_embeddings{nullptr};
  torch::nn::LayerNorm LayerNorm{nullptr};  // Hugging Face's name
};
TORCH_MODULE(BertEmbeddings);

/// dense + dropout + residual + LayerNorm: `attention.output` and `output` of a layer.
class BertResidualImpl : public torch::nn::Cloneable<BertResidualImpl> {
 public:
  BertResidualImpl(int64_t in, const BertOptions& o) : in_(in), options(o) { reset(); }
  void reset() override;
  /// h [B, T, in], residual [B, T, H] -> LayerNorm(dropout(dense(h)) + residual) [B, T, H]
  torch::Tensor forward(const torch::Tensor& h, const torch::Tensor& residual);

 private:
  int64_t in_;

 public:
  BertOptions options;
  torch::nn::Linear dense{nullptr};
  torch::nn::LayerNorm LayerNorm{nullptr};
};
TORCH_MODULE(BertResidual);

/// `attention.self`: multi-head scaled dot-product attention.
class BertSelfAttentionImpl : public torch::nn::Cloneable<BertSelfAttentionImpl> {
 public:
  explicit BertSelfAttentionImpl(const BertOptions& o) : options(o) { reset(); }
  void reset() override;
  /// x [B, T, H], key_bias [B, 1, 1, T] (0, or the lowest float for padding) -> [B, T, H]
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& key_bias);

  BertOptions options;
  torch::nn::Linear query{nullptr}, key{nullptr}, value{nullptr};
};
TORCH_MODULE(BertSelfAttention);

/// `attention`: self-attention then its output block.
class BertAttentionImpl : public torch::nn::Cloneable<BertAttentionImpl> {
 public:
  explicit BertAttentionImpl(const BertOptions& o) : options(o) { reset(); }
  void reset() override;
  /// x [B, T, H], key_bias [B, 1, 1, T] -> [B, T, H]
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& key_bias);

  BertOptions options;
  BertSelfAttention self{nullptr};
  BertResidual output{nullptr};
};
TORCH_MODULE(BertAttention);

/// `intermediate`: gelu(dense(x)), GELU with erf.
class BertIntermediateImpl : public torch::nn::Cloneable<BertIntermediateImpl> {
 public:
  explicit BertIntermediateImpl(const BertOptions& o) : options(o) { reset(); }
  void reset() override;
  /// x [B, T, H] -> [B, T, intermediate]
  torch::Tensor forward(const torch::Tensor& x);

  BertOptions options;
  torch::nn::Linear dense{nullptr};
};
TORCH_MODULE(BertIntermediate);

/// `encoder.layer.N`.
class BertLayerImpl : public torch::nn::Cloneable<BertLayerImpl> {
 public:
  explicit BertLayerImpl(const BertOptions& o) : options(o) { reset(); }
  void reset() override;
  /// x [B, T, H], key_bias [B, 1, 1, T] -> [B, T, H]
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& key_bias);

  BertOptions options;
  BertAttention attention{nullptr};
  BertIntermediate intermediate{nullptr};
  BertResidual output{nullptr};
};
TORCH_MODULE(BertLayer);

/// `encoder`: the stack `layer.0` ... `layer.{layers-1}`.
class BertStackImpl : public torch::nn::Cloneable<BertStackImpl> {
 public:
  explicit BertStackImpl(const BertOptions& o) : options(o) { reset(); }
  void reset() override;
  /// x [B, T, H], key_bias [B, 1, 1, T] -> [B, T, H]
  torch::Tensor forward(torch::Tensor x, const torch::Tensor& key_bias);

  BertOptions options;
  torch::nn::ModuleList layer{nullptr};
};
TORCH_MODULE(BertStack);

/// `pooler`: tanh(dense(h[:, 0])).
class BertPoolerImpl : public torch::nn::Cloneable<BertPoolerImpl> {
 public:
  explicit BertPoolerImpl(const BertOptions& o) : options(o) { reset(); }
  void reset() override;
  /// h [B, T, H] -> [B, H]
  torch::Tensor forward(const torch::Tensor& h);

  BertOptions options;
  torch::nn::Linear dense{nullptr};
};
TORCH_MODULE(BertPooler);

}  // namespace mmfuse::encoders
