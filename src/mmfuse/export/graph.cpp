#include "mmfuse/export/graph.h"

#include <cmath>

// As the ONNX CMake targets define them (Debian's libonnx is built with the ML extensions).
#ifndef ONNX_NAMESPACE
#define ONNX_NAMESPACE onnx
#endif
#ifndef ONNX_ML
#define ONNX_ML 1
#endif
#include <onnx/onnx_pb.h>

#include "mmfuse/core/error.h"

namespace mmfuse::onnx_export {

OnnxAttr OnnxAttr::of(std::string name, int64_t v) {
  OnnxAttr a;
  a.name = std::move(name);
  a.kind = Kind::i;
  a.i = v;
  return a;
}
OnnxAttr OnnxAttr::of_float(std::string name, float v) {
  OnnxAttr a;
  a.name = std::move(name);
  a.kind = Kind::f;
  a.f = v;
  return a;
}
OnnxAttr OnnxAttr::of(std::string name, std::vector<int64_t> v) {
  OnnxAttr a;
  a.name = std::move(name);
  a.kind = Kind::ints;
  a.ints = std::move(v);
  return a;
}
OnnxAttr OnnxAttr::of(std::string name, std::string v) {
  OnnxAttr a;
  a.name = std::move(name);
  a.kind = Kind::s;
  a.s = std::move(v);
  return a;
}

OnnxGraph::OnnxGraph(int64_t opset) : opset_(opset), model_(std::make_unique<onnx::ModelProto>()) {
  if (opset < 13) {
    throw Error("ONNX opset " + std::to_string(opset) + " is too old; the exporter needs >= 13");
  }
  model_->set_ir_version(7);
  model_->set_producer_name("mmfuse");
  model_->set_producer_version(MMFUSE_VERSION);
  auto* op = model_->add_opset_import();
  op->set_domain("");
  op->set_version(opset);
  model_->mutable_graph()->set_name("mmfuse");
}

OnnxGraph::~OnnxGraph() = default;

std::string OnnxGraph::fresh(const std::string& hint) {
  int& n = used_[hint];
  ++n;
  if (n == 1) return hint;
  std::string name = hint + "_" + std::to_string(n);
  while (used_.count(name)) name += "_";
  used_[name] = 1;
  return name;
}

std::string OnnxGraph::constant(const std::string& name, const torch::Tensor& t) {
  auto c = t.detach().to(torch::kCPU).contiguous();
  auto* init = model_->mutable_graph()->add_initializer();
  const std::string unique = fresh(name);
  init->set_name(unique);
  for (int64_t d : c.sizes()) init->add_dims(d);
  if (c.scalar_type() == torch::kInt64) {
    init->set_data_type(onnx::TensorProto::INT64);
    init->set_raw_data(c.data_ptr(), c.numel() * sizeof(int64_t));
  } else {
    c = c.to(torch::kFloat);
    init->set_data_type(onnx::TensorProto::FLOAT);
    init->set_raw_data(c.data_ptr(), c.numel() * sizeof(float));
  }
  return unique;
}

std::string OnnxGraph::ints(const std::string& hint, const std::vector<int64_t>& values) {
  return constant(hint, torch::tensor(values, torch::kInt64));
}

std::string OnnxGraph::scalar_int(const std::string& hint, int64_t value) {
  return constant(hint, torch::scalar_tensor(value, torch::kInt64));
}

std::string OnnxGraph::scalar(const std::string& hint, float value) {
  return constant(hint, torch::scalar_tensor(value, torch::kFloat));
}

std::vector<std::string> OnnxGraph::node(const std::string& op,
                                         const std::vector<std::string>& inputs, int outputs,
                                         const std::vector<OnnxAttr>& attrs,
                                         const std::string& hint) {
  auto* n = model_->mutable_graph()->add_node();
  n->set_op_type(op);
  n->set_name(fresh("node_" + op));
  for (const auto& in : inputs) n->add_input(in);
  std::vector<std::string> out;
  for (int i = 0; i < outputs; ++i) {
    out.push_back(fresh(hint.empty() ? op : hint));
    n->add_output(out.back());
  }
  for (const auto& a : attrs) {
    auto* p = n->add_attribute();
    p->set_name(a.name);
    switch (a.kind) {
      case OnnxAttr::Kind::i:
        p->set_type(onnx::AttributeProto::INT);
        p->set_i(a.i);
        break;
      case OnnxAttr::Kind::f:
        p->set_type(onnx::AttributeProto::FLOAT);
        p->set_f(a.f);
        break;
      case OnnxAttr::Kind::ints:
        p->set_type(onnx::AttributeProto::INTS);
        for (int64_t v : a.ints) p->add_ints(v);
        break;
      case OnnxAttr::Kind::s:
        p->set_type(onnx::AttributeProto::STRING);
        p->set_s(a.s);
        break;
    }
  }
  return out;
}

std::string OnnxGraph::op(const std::string& op, const std::vector<std::string>& inputs,
                          const std::vector<OnnxAttr>& attrs, const std::string& hint) {
  return node(op, inputs, 1, attrs, hint).front();
}

namespace {
void set_value_info(onnx::ValueInfoProto* v, const std::string& name, OnnxType type,
                    const std::vector<int64_t>& dims) {
  v->set_name(name);
  auto* t = v->mutable_type()->mutable_tensor_type();
  t->set_elem_type(static_cast<int>(type));
  auto* shape = t->mutable_shape();
  for (std::size_t k = 0; k < dims.size(); ++k) {
    auto* d = shape->add_dim();
    if (dims[k] >= 0) {
      d->set_dim_value(dims[k]);
    } else {
      d->set_dim_param(k == 0 ? std::string("batch") : name + "_dim" + std::to_string(k));
    }
  }
}
}  // namespace

void OnnxGraph::input(const std::string& name, OnnxType type, const std::vector<int64_t>& dims) {
  used_[name] = 1;
  set_value_info(model_->mutable_graph()->add_input(), name, type, dims);
}

void OnnxGraph::output(const std::string& name, const std::string& value, OnnxType type,
                       const std::vector<int64_t>& dims) {
  std::string v = value;
  if (v != name) {
    auto* n = model_->mutable_graph()->add_node();
    n->set_op_type("Identity");
    n->set_name(fresh("node_output_" + name));
    n->add_input(value);
    n->add_output(name);
    used_[name] = 1;
  }
  set_value_info(model_->mutable_graph()->add_output(), name, type, dims);
}

std::string OnnxGraph::serialize(const std::string& doc) const {
  model_->set_doc_string(doc);
  std::string bytes;
  if (!model_->SerializeToString(&bytes)) throw Error("cannot serialize the ONNX model");
  return bytes;
}

int64_t OnnxGraph::node_count() const {
  return model_->graph().node_size();
}

// ------------------------------------------------------------------- common layer patterns

std::string emit_linear(OnnxGraph& g, const std::string& prefix, torch::nn::LinearImpl& linear,
                        const std::string& x) {
  auto w = g.constant(prefix + ".weight_t", linear.weight.t());  // [in, out]
  auto y = g.op("MatMul", {x, w}, {}, prefix);
  if (!linear.bias.defined()) return y;
  return g.op("Add", {y, g.constant(prefix + ".bias", linear.bias)}, {}, prefix);
}

std::string emit_layer_norm(OnnxGraph& g, const std::string& prefix, torch::nn::LayerNormImpl& norm,
                            const std::string& x) {
  if (norm.options.normalized_shape().size() != 1) {
    throw Error(prefix + ": LayerNorm over " +
                std::to_string(norm.options.normalized_shape().size()) +
                " dimensions cannot be exported yet (only the last dimension)");
  }
  const std::vector<OnnxAttr> last = {OnnxAttr::of("axes", std::vector<int64_t>{-1})};
  auto mean = g.op("ReduceMean", {x}, last, prefix + ".mean");
  auto centered = g.op("Sub", {x, mean});
  auto var = g.op("ReduceMean", {g.op("Mul", {centered, centered})}, last, prefix + ".var");
  auto eps = g.scalar(prefix + ".eps", float(norm.options.eps()));
  auto y = g.op("Div", {centered, g.op("Sqrt", {g.op("Add", {var, eps})})});
  if (norm.options.elementwise_affine()) {
    y = g.op("Mul", {y, g.constant(prefix + ".weight", norm.weight)});
    y = g.op("Add", {y, g.constant(prefix + ".bias", norm.bias)}, {}, prefix);
  }
  return y;
}

namespace {
/// x -> 0.5 x (1 + erf(x / sqrt 2)) (GELU has no op before opset 20).
std::string emit_gelu_erf(OnnxGraph& g, const std::string& prefix, const std::string& x) {
  auto scaled = g.op("Mul", {x, g.scalar(prefix + ".rsqrt2", float(1.0 / std::sqrt(2.0)))});
  auto one = g.op("Add", {g.op("Erf", {scaled}), g.scalar(prefix + ".one", 1.0f)});
  return g.op("Mul", {g.op("Mul", {x, one}), g.scalar(prefix + ".half", 0.5f)}, {}, prefix);
}

/// BatchNorm1d in eval mode as one affine map: x * scale + shift over the features.
std::string emit_batch_norm_1d(OnnxGraph& g, const std::string& prefix,
                               torch::nn::BatchNorm1dImpl& bn, const std::string& x) {
  torch::NoGradGuard no_grad;
  auto scale = torch::rsqrt(bn.running_var + bn.options.eps());
  if (bn.weight.defined()) scale = scale * bn.weight;
  auto shift = -bn.running_mean * scale;
  if (bn.bias.defined()) shift = shift + bn.bias;
  auto y = g.op("Mul", {x, g.constant(prefix + ".scale", scale)});
  return g.op("Add", {y, g.constant(prefix + ".shift", shift)}, {}, prefix);
}
}  // namespace

std::string emit_sequential(OnnxGraph& g, const std::string& prefix, torch::nn::SequentialImpl& seq,
                            const std::string& x) {
  std::string y = x;
  for (std::size_t i = 0; i < seq.size(); ++i) {
    const std::string name = prefix + "." + std::to_string(i);
    auto child = seq.ptr(i);
    if (auto* l = child->as<torch::nn::Linear>()) {
      y = emit_linear(g, name, *l, y);
    } else if (child->as<torch::nn::ReLU>()) {
      y = g.op("Relu", {y});
    } else if (child->as<torch::nn::Tanh>()) {
      y = g.op("Tanh", {y});
    } else if (child->as<torch::nn::Sigmoid>()) {
      y = g.op("Sigmoid", {y});
    } else if (child->as<torch::nn::GELU>()) {
      y = emit_gelu_erf(g, name, y);
    } else if (child->as<torch::nn::Dropout>()) {
      continue;  // identity in eval mode
    } else if (auto* n = child->as<torch::nn::LayerNorm>()) {
      y = emit_layer_norm(g, name, *n, y);
    } else if (auto* b = child->as<torch::nn::BatchNorm1d>()) {
      y = emit_batch_norm_1d(g, name, *b, y);
    } else {
      throw Error(name + ": a " + child->name() + " layer cannot be exported yet");
    }
  }
  return y;
}

}  // namespace mmfuse::onnx_export
