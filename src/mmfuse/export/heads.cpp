// Exporters of the built-in heads: linear, mlp, projection (L2-normalised).
#include <torch/torch.h>

#include "mmfuse/export/exporters.h"
#include "mmfuse/nn/heads/linear.h"
#include "mmfuse/nn/heads/mlp.h"
#include "mmfuse/nn/heads/projection.h"

namespace mmfuse::onnx_export {
namespace {

template <class Impl>
Impl& head_as(const BlockRef& b, const char* name) {
  auto* impl = dynamic_cast<Impl*>(&b.module);
  if (!impl) b.cfg.fail(std::string("the module is not a '") + name + "' head");
  return *impl;
}

std::string export_linear_head(OnnxGraph& g, const BlockRef& b, const std::string& z) {
  auto& h = head_as<heads::LinearHeadImpl>(b, "linear");
  return emit_linear(g, b.prefix + ".linear", *h.linear, z);
}

std::string export_mlp_head(OnnxGraph& g, const BlockRef& b, const std::string& z) {
  auto& h = head_as<heads::MlpHeadImpl>(b, "mlp");
  return emit_sequential(g, b.prefix + ".net", *h.net, z);
}

/// y / max(||y||_2, 1e-12) per row, as torch's normalize
std::string export_projection_head(OnnxGraph& g, const BlockRef& b, const std::string& z) {
  auto& h = head_as<heads::ProjectionHeadImpl>(b, "projection");
  auto y = emit_sequential(g, b.prefix + ".net", *h.net, z);
  auto norm =
      g.op("ReduceL2", {y},
           {OnnxAttr::of("axes", std::vector<int64_t>{1}), OnnxAttr::of("keepdims", int64_t{1})});
  norm = g.op("Max", {norm, g.scalar(b.prefix + ".eps", 1e-12f)});
  return g.op("Div", {y, norm}, {}, b.prefix + ".embedding");
}

}  // namespace

void add_head_exporters(BlockExporters& e) {
  e.heads["linear"] = export_linear_head;
  e.heads["mlp"] = export_mlp_head;
  e.heads["projection"] = export_projection_head;
}

}  // namespace mmfuse::onnx_export
