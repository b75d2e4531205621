#include "mmfuse/nn/encoders/bert.h"

#include <limits>

#include "mmfuse/nn/encoders/sequence.h"

namespace mmfuse::encoders {

std::shared_ptr<BertEncoderImpl> BertEncoderImpl::create(const EncoderContext& ctx,
                                                         const ConfigNode& cfg) {
  cfg.check_keys({"type", "hidden", "layers", "heads", "intermediate", "max_positions",
                  "type_vocab", "dropout", "attention_dropout", "layer_norm_eps", "pooling"});
  if (ctx.input_shape.size() != 1 || ctx.vocab_size <= 0) {
    cfg.fail(
        "bert reads token ids [T] with a vocabulary; use the `wordpiece` text pipeline "
        "(pipeline: wordpiece, vocab: vocab.txt)");
  }
  BertOptions o(ctx.vocab_size);
  o.hidden(cfg.get<int64_t>("hidden", o.hidden()));
  o.layers(cfg.get<int64_t>("layers", o.layers()));
  o.heads(cfg.get<int64_t>("heads", o.heads()));
  o.intermediate(cfg.get<int64_t>("intermediate", o.intermediate()));
  o.max_positions(cfg.get<int64_t>("max_positions", o.max_positions()));
  o.type_vocab(cfg.get<int64_t>("type_vocab", o.type_vocab()));
  o.dropout(cfg.get<double>("dropout", o.dropout()));
  o.attention_dropout(cfg.get<double>("attention_dropout", o.attention_dropout()));
  o.layer_norm_eps(cfg.get<double>("layer_norm_eps", o.layer_norm_eps()));
  const std::string pooling = cfg.get<std::string>("pooling", "pooler");
  if (pooling != "pooler" && pooling != "cls") {
    cfg["pooling"].fail(
        "expected pooler (tanh dense of [CLS], BertModel's pooler_output) or cls "
        "(the [CLS] hidden state), got '" +
        pooling + "'");
  }
  o.use_pooler(pooling == "pooler");
  if (o.hidden() < 1 || o.heads() < 1 || o.hidden() % o.heads() != 0) {
    cfg["heads"].fail("expected heads dividing hidden = " + std::to_string(o.hidden()) + ", got " +
                      std::to_string(o.heads()));
  }
  if (o.layers() < 1) cfg["layers"].fail("expected at least one layer");
  if (o.intermediate() < 1) cfg["intermediate"].fail("expected a positive size");
  if (o.type_vocab() < 1) cfg["type_vocab"].fail("expected at least one token type");
  const int64_t steps = ctx.input_shape[0];
  if (o.max_positions() < 1 || (steps > 0 && steps > o.max_positions())) {
    cfg["max_positions"].fail("expected at least the pipeline's max_len (" + std::to_string(steps) +
                              "), got " + std::to_string(o.max_positions()));
  }
  for (const char* key : {"dropout", "attention_dropout"}) {
    const double p = cfg.get<double>(key, 0.0);
    if (p < 0 || p >= 1) cfg[key].fail("expected a probability in [0, 1)");
  }
  return std::make_shared<BertEncoderImpl>(o);
}

void BertEncoderImpl::reset() {
  embeddings = register_module("embeddings", BertEmbeddings(options));
  encoder = register_module("encoder", BertStack(options));
  pooler = nullptr;  // pooling: cls has no pooler (exclude: [pooler.] when loading BertModel)
  if (options.use_pooler()) pooler = register_module("pooler", BertPooler(options));
}

torch::Tensor BertEncoderImpl::sequence(const torch::Tensor& ids, const torch::Tensor& lengths) {
  TORCH_CHECK(ids.dim() == 2 && ids.scalar_type() == torch::kInt64,
              "bert: expected token ids [B, T] int64, got ", ids.sizes(), " ", ids.scalar_type());
  const int64_t batch = ids.size(0), steps = ids.size(1);
  auto valid = lengths_to_mask(clamp_lengths(lengths, batch, steps), steps, ids.device());
  auto x = embeddings(ids);
  // Hugging Face's extended attention mask: (1 - mask) * the lowest float, added to the scores.
  auto key_bias = (1.0 - valid.to(x.dtype())) * std::numeric_limits<float>::lowest();
  return encoder(x, key_bias.view({batch, 1, 1, steps}));
}

nn::Encoded BertEncoderImpl::encode(const data::ModalityBatch& input) {
  auto h = sequence(input.data, input.lengths);  // [B, T, H]
  const int64_t batch = h.size(0), steps = h.size(1);
  auto valid = lengths_to_mask(clamp_lengths(input.lengths, batch, steps), steps, h.device());
  nn::Encoded enc;
  enc.pooled = options.use_pooler() ? pooler(h) : h.select(1, 0);
  enc.tokens = h.masked_fill(~valid.unsqueeze(2), 0.0);
  if (input.lengths.defined()) enc.token_mask = valid;
  enc.present = input.present;
  return enc;
}

}  // namespace mmfuse::encoders
