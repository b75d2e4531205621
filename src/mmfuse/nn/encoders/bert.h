// BERT-style text encoder in Hugging Face's layout and names, so a BertModel checkpoint converted
// to safetensors loads as is:
//
//   embeddings.{word_embeddings, position_embeddings, token_type_embeddings, LayerNorm}
//   encoder.layer.N.attention.self.{query, key, value}
//   encoder.layer.N.attention.output.{dense, LayerNorm}
//   encoder.layer.N.intermediate.dense
//   encoder.layer.N.output.{dense, LayerNorm}
//   pooler.dense
//
// (a BertForPreTraining file: `pretrained: {file: ..., prefix: bert., exclude: [cls.,
// bert.embeddings.position_ids]}`). Post-layer-norm blocks, GELU with erf, padding masked out of
// attention from the batch's lengths, one segment (token type 0). Input: the `wordpiece`
// pipeline's [CLS] ... [SEP] ids.
#pragma once

#include <memory>

#include "mmfuse/nn/encoders/bert_layers.h"
#include "mmfuse/nn/encoders/encoder.h"

namespace mmfuse::encoders {

class BertEncoderImpl : public torch::nn::Cloneable<BertEncoderImpl>, public Encoder {
 public:
  static constexpr const char* kName = "bert";
  static constexpr const char* kDescription =
      "BERT text encoder (Hugging Face names) over WordPiece ids: pooled [CLS] + token sequence";

  explicit BertEncoderImpl(BertOptions options) : options(std::move(options)) { reset(); }

  /// Keys: hidden, layers, heads, intermediate, max_positions, type_vocab, dropout,
  /// attention_dropout, layer_norm_eps, pooling (pooler|cls: no pooler module). The vocabulary
  /// size comes from the pipeline (wordpiece).
  static std::shared_ptr<BertEncoderImpl> create(const EncoderContext& ctx, const ConfigNode& cfg);

  void reset() override;

  /// ids [B, T] int64, lengths [B] (undefined: all valid) -> last hidden states [B, T, H]
  torch::Tensor sequence(const torch::Tensor& ids, const torch::Tensor& lengths);

  /// ids [B, T], lengths [B] -> pooled [B, H] (pooler or [CLS]), tokens [B, T, H] (zeros past
  /// each length), token_mask [B, T] when the batch has lengths.
  nn::Encoded encode(const data::ModalityBatch& input) override;

  int64_t out_dim() const override { return options.hidden(); }
  int64_t token_dim() const override { return options.hidden(); }

  BertOptions options;
  BertEmbeddings embeddings{nullptr};
  BertStack encoder{nullptr};
  BertPooler pooler{nullptr};
};
TORCH_MODULE(BertEncoder);

}  // namespace mmfuse::encoders
