// Exporters of the built-in fusions: concat, tensor, low_rank, gated, composite, cross_attention.
// The exported graph takes every modality (the `present` masks of the module path are all true),
// so the learned placeholders for absent modalities never enter it.
#include <cmath>

#include <torch/torch.h>

#include "mmfuse/core/error.h"
#include "mmfuse/export/exporters.h"
#include "mmfuse/nn/fusion/composite.h"
#include "mmfuse/nn/fusion/concat.h"
#include "mmfuse/nn/fusion/cross_attention.h"
#include "mmfuse/nn/fusion/gated.h"
#include "mmfuse/nn/fusion/low_rank.h"
#include "mmfuse/nn/fusion/tensor.h"

namespace mmfuse::onnx_export {
namespace {

template <class Impl>
Impl& fusion_as(const BlockRef& b, const char* name) {
  auto* impl = dynamic_cast<Impl*>(&b.module);
  if (!impl) b.cfg.fail(std::string("the module is not a '") + name + "' fusion");
  return *impl;
}

std::vector<std::string> pooled_of(const std::vector<ExportedEncoding>& in) {
  std::vector<std::string> out;
  for (const auto& e : in) out.push_back(e.pooled);
  return out;
}

/// z [B, D] -> [z, 1] [B, D + 1]
std::string append_one(OnnxGraph& g, const std::string& prefix, const std::string& z) {
  return g.op("Pad", {z, g.ints(prefix + ".pads", {0, 0, 0, 1}), g.scalar(prefix + ".one", 1.0f)});
}

/// z [B, D] -> z / max(|z|_2, 1e-12), as ConcatFusion's normalize: l2
std::string emit_l2_normalize(OnnxGraph& g, const std::string& prefix, const std::string& z) {
  auto sq = g.op("ReduceSum", {g.op("Mul", {z, z}), g.ints(prefix + ".axes1", {1})},
                 {OnnxAttr::of("keepdims", int64_t{1})});
  auto norm = g.op("Max", {g.op("Sqrt", {sq}), g.scalar(prefix + ".eps", 1e-12f)});
  return g.op("Div", {z, norm});
}

/// z [B, D] -> sign(z) max(|z|, 1e-12)^p, as ConcatFusion's power: {modality: p}
std::string emit_signed_power(OnnxGraph& g, const std::string& prefix, const std::string& z,
                              double p) {
  auto magnitude = g.op("Max", {g.op("Abs", {z}), g.scalar(prefix + ".eps", 1e-12f)});
  auto powered = g.op("Pow", {magnitude, g.scalar(prefix + ".p", float(p))});
  return g.op("Mul", {g.op("Sign", {z}), powered});
}

std::string export_concat(OnnxGraph& g, const BlockRef& b,
                          const std::vector<ExportedEncoding>& in) {
  const auto& opt = fusion_as<fusion::ConcatFusionImpl>(b, "concat").options;
  std::vector<std::string> parts;
  for (std::size_t i = 0; i < in.size(); ++i) {
    auto z = in[i].pooled;
    const double power = opt.power_of(i);
    if (power != 1.0) z = emit_signed_power(g, b.prefix + ".power" + std::to_string(i), z, power);
    if (opt.l2_normalize()) z = emit_l2_normalize(g, b.prefix, z);
    const double scale = opt.scale_of(i);
    if (scale != 1.0)
      z = g.op("Mul", {z, g.scalar(b.prefix + ".scale" + std::to_string(i), float(scale))});
    parts.push_back(z);
  }
  return g.op("Concat", parts, {OnnxAttr::of("axis", int64_t{1})}, b.prefix + ".fused");
}

/// outer products of [z_i, 1], flattened in the peer's order
std::string export_tensor(OnnxGraph& g, const BlockRef& b,
                          const std::vector<ExportedEncoding>& in) {
  fusion_as<fusion::TensorFusionImpl>(b, "tensor");
  std::string fused;
  for (std::size_t i = 0; i < in.size(); ++i) {
    auto z = append_one(g, b.prefix, in[i].pooled);
    if (fused.empty()) {
      fused = z;
      continue;
    }
    auto outer = g.op("Mul", {g.op("Unsqueeze", {fused, g.ints(b.prefix + ".axes2", {2})}),
                              g.op("Unsqueeze", {z, g.ints(b.prefix + ".axes1", {1})})});
    fused = g.op("Flatten", {outer}, {OnnxAttr::of("axis", int64_t{1})}, b.prefix + ".fused");
  }
  return fused;
}

std::string export_low_rank(OnnxGraph& g, const BlockRef& b,
                            const std::vector<ExportedEncoding>& in) {
  fusion_as<fusion::LowRankFusionImpl>(b, "low_rank");
  std::string prod;
  for (std::size_t i = 0; i < in.size(); ++i) {
    const std::string f = "factors." + std::to_string(i);
    auto factor = g.constant(b.prefix + "." + f, module_tensor(b.module, f, b.prefix));
    auto proj = g.op("MatMul", {append_one(g, b.prefix, in[i].pooled), factor});  // [rank, B, out]
    prod = prod.empty() ? proj : g.op("Mul", {prod, proj});
  }
  auto brd = g.op("Transpose", {prod}, {OnnxAttr::of("perm", std::vector<int64_t>{1, 0, 2})});
  auto w =
      g.constant(b.prefix + ".rank_weights", module_tensor(b.module, "rank_weights", b.prefix));
  auto fused = g.op("Squeeze", {g.op("MatMul", {w, brd}), g.ints(b.prefix + ".axes1", {1})});
  return g.op("Add",
              {fused, g.constant(b.prefix + ".bias", module_tensor(b.module, "bias", b.prefix))},
              {}, b.prefix + ".fused");
}

std::string export_gated(OnnxGraph& g, const BlockRef& b, const std::vector<ExportedEncoding>& in) {
  auto& f = fusion_as<fusion::GatedFusionImpl>(b, "gated");
  const int64_t m = int64_t(in.size()), d = f.options.dim();
  std::vector<std::string> h, h_flat;
  for (std::size_t i = 0; i < in.size(); ++i) {
    const std::string p = "proj." + std::to_string(i);
    auto& lin = *child_module(b.module, p, b.prefix).as<torch::nn::Linear>();
    auto hi = g.op("Tanh", {emit_linear(g, b.prefix + "." + p, lin, in[i].pooled)});
    h_flat.push_back(hi);                                                    // [B, D]
    h.push_back(g.op("Unsqueeze", {hi, g.ints(b.prefix + ".axes1", {1})}));  // [B, 1, D]
  }
  auto& gate = *child_module(b.module, "gate", b.prefix).as<torch::nn::Linear>();
  auto x = g.op("Concat", f.options.gate_from_projections() ? h_flat : pooled_of(in),
                {OnnxAttr::of("axis", int64_t{1})});
  auto scores = g.op("Reshape", {emit_linear(g, b.prefix + ".gate", gate, x),
                                 g.ints(b.prefix + ".gate_shape", {-1, m, d})});
  auto z = g.op("Softmax", {scores}, {OnnxAttr::of("axis", int64_t{1})});  // [B, M, D]
  auto mixed = g.op("Mul", {g.op("Concat", h, {OnnxAttr::of("axis", int64_t{1})}), z});
  return g.op("ReduceSum", {mixed, g.ints(b.prefix + ".axes1r", {1})},
              {OnnxAttr::of("keepdims", int64_t{0})}, b.prefix + ".fused");
}

std::string export_composite(OnnxGraph& g, const BlockRef& b,
                             const std::vector<ExportedEncoding>& in) {
  auto& f = fusion_as<fusion::CompositeFusionImpl>(b, "composite");
  std::vector<ExportedEncoding> mid;
  ConfigNode combine = b.cfg["combine"];
  for (std::size_t i = 0; i < f.options.branches().size(); ++i) {
    const std::string name = "branch_" + std::to_string(i);
    ConfigNode cfg = combine.at(i);
    BlockRef child{child_module(b.module, name, b.prefix), cfg, b.prefix + "." + name};
    ExportedEncoding e;
    e.pooled = fusion_exporter(block_type_of(cfg), cfg)(g, child, in);
    mid.push_back(e);
  }
  ConfigNode merge = b.cfg.has("merge") ? b.cfg["merge"] : f.options.merge();
  BlockRef child{child_module(b.module, "merge", b.prefix), merge, b.prefix + ".merge"};
  return fusion_exporter(block_type_of(merge), merge)(g, child, mid);
}

/// torch::nn::MultiheadAttention (batch-first here): query [B, T, d], keys [B, S, d] -> [B, T, d]
std::string emit_attention(OnnxGraph& g, const std::string& prefix,
                           torch::nn::MultiheadAttentionImpl& mha, const std::string& query,
                           const std::string& keys) {
  const int64_t d = mha.options.embed_dim(), heads = mha.options.num_heads(), hd = d / heads;
  auto proj = [&](const std::string& x, int64_t k, const char* what) {
    auto w = mha.in_proj_weight.narrow(0, k * d, d).t();
    auto y = g.op("MatMul", {x, g.constant(prefix + "." + what + "_weight_t", w)});
    y = g.op("Add",
             {y, g.constant(prefix + "." + what + "_bias", mha.in_proj_bias.narrow(0, k * d, d))});
    return g.op("Reshape",
                {y, g.ints(prefix + ".split_heads", {0, 0, heads, hd})});  // [B, L, h, hd]
  };
  auto q = g.op("Transpose", {proj(query, 0, "q")},
                {OnnxAttr::of("perm", std::vector<int64_t>{0, 2, 1, 3})});
  auto k = g.op("Transpose", {proj(keys, 1, "k")},
                {OnnxAttr::of("perm", std::vector<int64_t>{0, 2, 3, 1})});
  auto v = g.op("Transpose", {proj(keys, 2, "v")},
                {OnnxAttr::of("perm", std::vector<int64_t>{0, 2, 1, 3})});
  q = g.op("Mul", {q, g.scalar(prefix + ".scaling", float(1.0 / std::sqrt(double(hd))))});
  auto attn = g.op("Softmax", {g.op("MatMul", {q, k})}, {OnnxAttr::of("axis", int64_t{-1})});
  auto o = g.op("Transpose", {g.op("MatMul", {attn, v})},
                {OnnxAttr::of("perm", std::vector<int64_t>{0, 2, 1, 3})});  // [B, T, h, hd]
  o = g.op("Reshape", {o, g.ints(prefix + ".merge_heads", {0, 0, d})});
  return emit_linear(g, prefix + ".out_proj", *mha.out_proj, o);
}

std::string export_cross_attention(OnnxGraph& g, const BlockRef& b,
                                   const std::vector<ExportedEncoding>& in) {
  auto& f = fusion_as<fusion::CrossAttentionFusionImpl>(b, "cross_attention");
  const std::size_t m = in.size();
  std::vector<std::string> t(m);
  for (std::size_t i = 0; i < m; ++i) {
    if (in[i].tokens.empty() || !in[i].mask.empty()) {
      b.cfg.fail("fusion 'cross_attention' cannot be exported yet for input " + std::to_string(i) +
                 ": only fixed-length token sequences (CNN feature maps) are supported");
    }
    const std::string p = "proj." + std::to_string(i);
    auto& lin = *child_module(b.module, p, b.prefix).as<torch::nn::Linear>();
    t[i] = emit_linear(g, b.prefix + "." + p, lin, in[i].tokens);  // [B, T_i, d]
    if (f.options.positions() != fusion::TokenPositions::none) {
      const std::string pos = f.options.positions() == fusion::TokenPositions::shared
                                  ? "pos"
                                  : "pos_" + std::to_string(i);
      auto table = g.constant(b.prefix + "." + pos, module_tensor(b.module, pos, b.prefix));
      auto count = g.op("Gather", {g.op("Shape", {t[i]}), g.ints(b.prefix + ".axis1", {1})});
      auto slice = g.op("Slice", {table, g.ints(b.prefix + ".start0", {0}), count,
                                  g.ints(b.prefix + ".axes_1", {1})});
      t[i] = g.op("Add", {t[i], slice});
    }
  }
  std::vector<std::string> pooled;
  for (std::size_t i = 0; i < m; ++i) {
    std::vector<std::string> kv;
    for (std::size_t j = 0; j < m; ++j) {
      if (j != i) kv.push_back(t[j]);
    }
    auto keys = kv.size() == 1 ? kv[0] : g.op("Concat", kv, {OnnxAttr::of("axis", int64_t{1})});
    const std::string idx = std::to_string(i);
    auto& mha =
        *child_module(b.module, "attn." + idx, b.prefix).as<torch::nn::MultiheadAttention>();
    auto a = emit_attention(g, b.prefix + ".attn." + idx, mha, t[i], keys);
    auto& norm = *child_module(b.module, "norm." + idx, b.prefix).as<torch::nn::LayerNorm>();
    auto c = emit_layer_norm(g, b.prefix + ".norm." + idx, norm, g.op("Add", {t[i], a}));
    pooled.push_back(g.op(
        "ReduceMean", {c},
        {OnnxAttr::of("axes", std::vector<int64_t>{1}), OnnxAttr::of("keepdims", int64_t{0})}));
  }
  auto z = g.op("Concat", pooled, {OnnxAttr::of("axis", int64_t{1})});
  auto& ff = *child_module(b.module, "ff", b.prefix).as<torch::nn::Sequential>();
  return g.op("Add", {z, emit_sequential(g, b.prefix + ".ff", ff, z)}, {}, b.prefix + ".fused");
}

}  // namespace

void add_fusion_exporters(BlockExporters& e) {
  e.fusions["concat"] = export_concat;
  e.fusions["tensor"] = export_tensor;
  e.fusions["low_rank"] = export_low_rank;
  e.fusions["gated"] = export_gated;
  e.fusions["composite"] = export_composite;
  e.fusions["cross_attention"] = export_cross_attention;
}

}  // namespace mmfuse::onnx_export
