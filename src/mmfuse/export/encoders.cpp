// Exporters of the built-in encoders: lenet, gru, lstm, embedding, mlp, identity.
#include <torch/torch.h>

#include "mmfuse/core/error.h"
#include "mmfuse/export/exporters.h"
#include "mmfuse/nn/encoders/embedding.h"
#include "mmfuse/nn/encoders/identity.h"
#include "mmfuse/nn/encoders/lenet.h"
#include "mmfuse/nn/encoders/mlp.h"
#include "mmfuse/nn/encoders/rnn.h"

namespace mmfuse::onnx_export {
namespace {

template <class Impl>
Impl& block_as(const BlockRef& b, const char* name) {
  auto* impl = dynamic_cast<Impl*>(&b.module);
  if (!impl) b.cfg.fail(std::string("the module is not a '") + name + "' encoder");
  return *impl;
}

/// LeNet: each conv -> BN folded into one Conv (as the eval path), MaxPool2, ReLU.
/// image [B, C, H, W] -> pooled [B, C' H' W'], tokens [B, H' W', C']
ExportedEncoding export_lenet(OnnxGraph& g, const BlockRef& b, const EncoderInputs& in) {
  block_as<encoders::LeNetImpl>(b, "lenet");
  auto& net = *child_module(b.module, "net", b.prefix).as<torch::nn::Sequential>();
  std::string x = in.data;
  torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i + 3 < net.size(); i += 4) {
    auto& conv = *net[i]->as<torch::nn::Conv2d>();
    auto& bn = *net[i + 1]->as<torch::nn::BatchNorm2d>();
    auto scale = bn.weight / torch::sqrt(bn.running_var + bn.options.eps());
    auto shift = conv.bias.defined() ? conv.bias - bn.running_mean : -bn.running_mean;
    auto weight = conv.weight * scale.reshape({-1, 1, 1, 1});
    auto bias = bn.bias + shift * scale;
    const std::string name = b.prefix + ".net." + std::to_string(i);
    const int64_t k = conv.weight.size(2), pad = k / 2;
    x = g.op(
        "Conv",
        {x, g.constant(name + ".folded_weight", weight), g.constant(name + ".folded_bias", bias)},
        {OnnxAttr::of("kernel_shape", std::vector<int64_t>{k, k}),
         OnnxAttr::of("pads", std::vector<int64_t>{pad, pad, pad, pad})},
        name + ".conv");
    x = g.op("MaxPool", {x},
             {OnnxAttr::of("kernel_shape", std::vector<int64_t>{2, 2}),
              OnnxAttr::of("strides", std::vector<int64_t>{2, 2})});
    x = g.op("Relu", {x}, {}, name + ".relu");
  }
  ExportedEncoding out;
  out.pooled = g.op("Flatten", {x}, {OnnxAttr::of("axis", int64_t{1})}, b.prefix + ".pooled");
  auto cells = g.op("Reshape", {x, g.ints(b.prefix + ".cells_shape", {0, 0, -1})});
  out.tokens = g.op("Transpose", {cells}, {OnnxAttr::of("perm", std::vector<int64_t>{0, 2, 1})},
                    b.prefix + ".tokens");
  return out;
}

/// lengths [B] int64 (or "": all T) clamped to [1, T] as the encoders do.
std::string clamped_lengths(OnnxGraph& g, const std::string& prefix, const std::string& steps_of,
                            const std::string& lengths) {
  auto t = g.op("Gather", {g.op("Shape", {steps_of}), g.ints(prefix + ".axis1", {1})});
  if (lengths.empty()) {
    auto batch = g.op("Gather", {g.op("Shape", {steps_of}), g.ints(prefix + ".axis0", {0})});
    return g.op("Expand", {t, batch}, {}, prefix + ".lengths");
  }
  auto one = g.ints(prefix + ".one", {1});
  return g.op("Min", {g.op("Max", {lengths, one}), t}, {}, prefix + ".lengths");
}

/// lengths [B] int64, ids/tokens [B, T, ...] -> mask [B, T] float (1 for valid steps).
std::string steps_mask(OnnxGraph& g, const std::string& prefix, const std::string& steps_of,
                       const std::string& lengths) {
  auto t = g.op("Gather", {g.op("Shape", {steps_of}), g.scalar_int(prefix + ".axis1s", 1)});
  auto range =
      g.op("Range", {g.scalar_int(prefix + ".zero", 0), t, g.scalar_int(prefix + ".step", 1)});
  auto col = g.op("Unsqueeze", {lengths, g.ints(prefix + ".axes1", {1})});
  auto valid = g.op("Less", {g.op("Unsqueeze", {range, g.ints(prefix + ".axes0", {0})}), col});
  return g.op("Cast", {valid}, {OnnxAttr::of("to", int64_t{1})}, prefix + ".mask");
}

/// tokens [B, T, D], mask [B, T] float -> mean / sum / max over valid steps [B, D]
std::string masked_pool_onnx(OnnxGraph& g, const std::string& prefix, const std::string& tokens,
                             const std::string& mask, encoders::Pooling pooling) {
  auto m = g.op("Unsqueeze", {mask, g.ints(prefix + ".axes2", {2})});
  const std::vector<OnnxAttr> no_keep = {OnnxAttr::of("keepdims", int64_t{0})};
  if (pooling == encoders::Pooling::max) {
    // masked_fill(-inf) as tokens + (mask - 1) * 1e30 keeps the max over valid steps.
    auto big = g.op("Mul", {g.op("Sub", {m, g.scalar(prefix + ".one_f", 1.0f)}),
                            g.scalar(prefix + ".big", 1e30f)});
    return g.op("ReduceMax", {g.op("Add", {tokens, big})},
                {OnnxAttr::of("axes", std::vector<int64_t>{1}), no_keep[0]}, prefix + ".pooled");
  }
  auto axes = g.ints(prefix + ".axes1r", {1});
  auto sum = g.op("ReduceSum", {g.op("Mul", {tokens, m}), axes}, no_keep);
  if (pooling == encoders::Pooling::sum) return sum;
  auto count =
      g.op("Max", {g.op("ReduceSum", {m, axes}, no_keep), g.scalar(prefix + ".one_c", 1.0f)});
  return g.op("Div", {sum, count}, {}, prefix + ".pooled");
}

/// torch gate blocks (rows of H) reordered for ONNX: `order[k]` = the torch block of ONNX block k.
torch::Tensor reorder_gates(const torch::Tensor& w, int64_t hidden,
                            const std::vector<int64_t>& order) {
  std::vector<torch::Tensor> parts;
  for (int64_t k : order) parts.push_back(w.narrow(0, k * hidden, hidden));
  return torch::cat(parts, 0);
}

/// GRU (torch gates r, z, n -> ONNX z, r, h; linear_before_reset = 1) or LSTM (i, f, g, o ->
/// i, o, f, c) over x [T, B, F] -> Y [T, B, dirs H], Y_h [dirs, B, H].
template <class Cell, class RnnImpl>
std::pair<std::string, std::string> emit_rnn(OnnxGraph& g, const std::string& prefix, RnnImpl& rnn,
                                             std::string x, const std::string& seq_lens) {
  constexpr bool kGru = std::is_same_v<Cell, encoders::GruCell>;
  const std::vector<int64_t> order =
      kGru ? std::vector<int64_t>{1, 0, 2} : std::vector<int64_t>{0, 3, 1, 2};
  const auto& o = rnn.options;
  const int64_t h = o.hidden_size(), dirs = o.bidirectional() ? 2 : 1;
  std::string y_h;
  auto params = rnn.named_parameters();
  for (int64_t layer = 0; layer < o.num_layers(); ++layer) {
    std::vector<torch::Tensor> w, r, bias;
    for (int64_t d = 0; d < dirs; ++d) {
      const std::string sfx = "_l" + std::to_string(layer) + (d == 1 ? "_reverse" : "");
      w.push_back(reorder_gates(params["weight_ih" + sfx], h, order));
      r.push_back(reorder_gates(params["weight_hh" + sfx], h, order));
      bias.push_back(torch::cat({reorder_gates(params["bias_ih" + sfx], h, order),
                                 reorder_gates(params["bias_hh" + sfx], h, order)}));
    }
    const std::string name = prefix + ".rnn.l" + std::to_string(layer);
    std::vector<OnnxAttr> attrs = {
        OnnxAttr::of("hidden_size", h),
        OnnxAttr::of("direction", std::string(dirs == 2 ? "bidirectional" : "forward"))};
    if (kGru) attrs.push_back(OnnxAttr::of("linear_before_reset", int64_t{1}));
    auto outs = g.node(
        kGru ? "GRU" : "LSTM",
        {x, g.constant(name + ".W", torch::stack(w)), g.constant(name + ".R", torch::stack(r)),
         g.constant(name + ".B", torch::stack(bias)), seq_lens},
        2, attrs, name);
    // Y [T, dirs, B, H] -> [T, B, dirs H]
    auto tbdh =
        g.op("Transpose", {outs[0]}, {OnnxAttr::of("perm", std::vector<int64_t>{0, 2, 1, 3})});
    x = g.op("Reshape", {tbdh, g.ints(name + ".merge_dirs", {0, 0, -1})}, {}, name + ".Y");
    y_h = outs[1];
  }
  return {x, y_h};
}

template <class Cell>
ExportedEncoding export_rnn(OnnxGraph& g, const BlockRef& b, const EncoderInputs& in) {
  auto& enc = block_as<encoders::RnnEncoderImpl<Cell>>(b, Cell::kName);
  const auto& o = enc.options;
  std::string x = in.data;
  if (o.input() == encoders::SequenceInput::spectrogram) {
    x = g.op("Transpose", {g.op("Squeeze", {x, g.ints(b.prefix + ".axes1", {1})})},
             {OnnxAttr::of("perm", std::vector<int64_t>{0, 2, 1})});
  }
  if (enc.embedding) {
    x = g.op("Gather", {g.constant(b.prefix + ".embedding.weight", enc.embedding->weight), x}, {},
             b.prefix + ".embedded");
  }
  auto lengths = clamped_lengths(g, b.prefix, x, in.lengths);
  auto seq_lens = g.op("Cast", {lengths}, {OnnxAttr::of("to", int64_t{6})});  // int32
  auto tb = g.op("Transpose", {x}, {OnnxAttr::of("perm", std::vector<int64_t>{1, 0, 2})});
  auto [y, y_h] = emit_rnn<Cell>(g, b.prefix, *enc.rnn, tb, seq_lens);
  auto mask = steps_mask(g, b.prefix, x, lengths);
  ExportedEncoding out;
  auto tokens = g.op("Transpose", {y}, {OnnxAttr::of("perm", std::vector<int64_t>{1, 0, 2})});
  // steps past each length are zero, as pad_packed_sequence gives them
  out.tokens = g.op("Mul", {tokens, g.op("Unsqueeze", {mask, g.ints(b.prefix + ".axes2m", {2})})},
                    {}, b.prefix + ".tokens");
  if (!in.lengths.empty()) out.mask = mask;
  if (o.pooling() == encoders::Pooling::mean) {
    out.pooled = masked_pool_onnx(g, b.prefix, out.tokens, mask, encoders::Pooling::mean);
  } else {  // last: Y_h of the last layer [dirs, B, H] -> [B, dirs H] (forward-last ++
            // backward-first)
    auto bdh = g.op("Transpose", {y_h}, {OnnxAttr::of("perm", std::vector<int64_t>{1, 0, 2})});
    out.pooled = g.op("Flatten", {bdh}, {OnnxAttr::of("axis", int64_t{1})}, b.prefix + ".pooled");
  }
  return out;
}

ExportedEncoding export_embedding(OnnxGraph& g, const BlockRef& b, const EncoderInputs& in) {
  auto& enc = block_as<encoders::EmbeddingEncoderImpl>(b, "embedding");
  ExportedEncoding out;
  out.tokens =
      g.op("Gather", {g.constant(b.prefix + ".embedding.weight", enc.embedding->weight), in.data},
           {}, b.prefix + ".tokens");
  auto lengths = clamped_lengths(g, b.prefix, in.data, in.lengths);
  auto mask = steps_mask(g, b.prefix, in.data, lengths);
  if (!in.lengths.empty()) out.mask = mask;
  out.pooled = masked_pool_onnx(g, b.prefix, out.tokens, mask, enc.options.pooling());
  return out;
}

ExportedEncoding export_mlp_encoder(OnnxGraph& g, const BlockRef& b, const EncoderInputs& in) {
  auto& enc = block_as<encoders::MlpEncoderImpl>(b, "mlp");
  auto x = g.op("Flatten", {in.data}, {OnnxAttr::of("axis", int64_t{1})});
  ExportedEncoding out;
  out.pooled = emit_sequential(g, b.prefix + ".net", *enc.net, x);
  return out;
}

ExportedEncoding export_identity(OnnxGraph& g, const BlockRef& b, const EncoderInputs& in) {
  block_as<encoders::IdentityEncoderImpl>(b, "identity");
  ExportedEncoding out;
  out.pooled = g.op("Flatten", {in.data}, {OnnxAttr::of("axis", int64_t{1})}, b.prefix + ".pooled");
  return out;
}

}  // namespace

void add_encoder_exporters(BlockExporters& e) {
  e.encoders["lenet"] = export_lenet;
  e.encoders["gru"] = export_rnn<encoders::GruCell>;
  e.encoders["lstm"] = export_rnn<encoders::LstmCell>;
  e.encoders["embedding"] = export_embedding;
  e.encoders["mlp"] = export_mlp_encoder;
  e.encoders["identity"] = export_identity;
}

}  // namespace mmfuse::onnx_export
