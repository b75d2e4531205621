#include "mmfuse/nn/encoders/bert_layers.h"

#include <cmath>

namespace mmfuse::encoders {

namespace {

// Hugging Face's _init_weights: normal(0, 0.02) weights, zero biases, LayerNorm 1 and 0.
torch::nn::Linear bert_linear(int64_t in, int64_t out) {
  torch::nn::Linear l(in, out);
  torch::NoGradGuard no_grad;
  l->weight.normal_(0.0, 0.02);
  l->bias.zero_();
  return l;
}

torch::nn::Embedding bert_embedding(int64_t rows, int64_t dim) {
  torch::nn::Embedding e(rows, dim);
  torch::NoGradGuard no_grad;
  e->weight.normal_(0.0, 0.02);
  return e;
}

torch::nn::LayerNorm bert_layer_norm(const BertOptions& o) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({o.hidden()}).eps(o.layer_norm_eps()));
}

}  // namespace

void BertEmbeddingsImpl::reset() {
  const auto& o = options;
  word_embeddings = register_module("word_embeddings", bert_embedding(o.vocab_size(), o.hidden()));
  position_embeddings =
      register_module("position_embeddings", bert_embedding(o.max_positions(), o.hidden()));
  token_type_embeddings =
      register_module("token_type_embeddings", bert_embedding(o.type_vocab(), o.hidden()));
  LayerNorm = register_module("LayerNorm", bert_layer_norm(o));
}

torch::Tensor BertEmbeddingsImpl::forward(const torch::Tensor& ids) {
  const int64_t steps = ids.size(1);
  TORCH_CHECK(steps <= options.max_positions(), "bert: ", steps,
              " tokens exceed max_positions = ", options.max_positions(),
              "; lower the wordpiece pipeline's max_len");
  auto positions = torch::arange(steps, ids.options());
  auto x = word_embeddings(ids) + position_embeddings(positions).unsqueeze(0) +
           token_type_embeddings->weight[0];
  return torch::dropout(LayerNorm(x), options.dropout(), is_training());
}

void BertResidualImpl::reset() {
  dense = register_module("dense", bert_linear(in_, options.hidden()));
  LayerNorm = register_module("LayerNorm", bert_layer_norm(options));
}

torch::Tensor BertResidualImpl::forward(const torch::Tensor& h, const torch::Tensor& residual) {
  return LayerNorm(torch::dropout(dense(h), options.dropout(), is_training()) + residual);
}

void BertSelfAttentionImpl::reset() {
  const int64_t h = options.hidden();
  query = register_module("query", bert_linear(h, h));
  key = register_module("key", bert_linear(h, h));
  value = register_module("value", bert_linear(h, h));
}

torch::Tensor BertSelfAttentionImpl::forward(const torch::Tensor& x,
                                             const torch::Tensor& key_bias) {
  const int64_t b = x.size(0), t = x.size(1), heads = options.heads();
  const int64_t dh = options.hidden() / heads;
  auto split = [&](const torch::Tensor& y) {  // [B, T, H] -> [B, heads, T, dh]
    return y.view({b, t, heads, dh}).transpose(1, 2);
  };
  auto q = split(query(x)), k = split(key(x)), v = split(value(x));
  auto scores = torch::matmul(q, k.transpose(-1, -2)) / std::sqrt(static_cast<double>(dh));
  auto probs = torch::softmax(scores + key_bias, -1);
  probs = torch::dropout(probs, options.attention_dropout(), is_training());
  return torch::matmul(probs, v).transpose(1, 2).reshape({b, t, options.hidden()});
}

void BertAttentionImpl::reset() {
  self = register_module("self", BertSelfAttention(options));
  output = register_module("output", BertResidual(options.hidden(), options));
}

torch::Tensor BertAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& key_bias) {
  return output(self(x, key_bias), x);
}

void BertIntermediateImpl::reset() {
  dense = register_module("dense", bert_linear(options.hidden(), options.intermediate()));
}

torch::Tensor BertIntermediateImpl::forward(const torch::Tensor& x) {
  return torch::gelu(dense(x));  // the exact (erf) GELU
}

void BertLayerImpl::reset() {
  attention = register_module("attention", BertAttention(options));
  intermediate = register_module("intermediate", BertIntermediate(options));
  output = register_module("output", BertResidual(options.intermediate(), options));
}

torch::Tensor BertLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& key_bias) {
  auto a = attention(x, key_bias);
  return output(intermediate(a), a);
}

void BertStackImpl::reset() {
  layer = register_module("layer", torch::nn::ModuleList());
  for (int64_t i = 0; i < options.layers(); ++i) layer->push_back(BertLayer(options));
}

torch::Tensor BertStackImpl::forward(torch::Tensor x, const torch::Tensor& key_bias) {
  for (const auto& l : *layer) x = l->as<BertLayer>()->forward(x, key_bias);
  return x;
}

void BertPoolerImpl::reset() {
  dense = register_module("dense", bert_linear(options.hidden(), options.hidden()));
}

torch::Tensor BertPoolerImpl::forward(const torch::Tensor& h) {
  return torch::tanh(dense(h.select(1, 0)));
}

}  // namespace mmfuse::encoders
