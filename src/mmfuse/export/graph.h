// OnnxGraph: a small builder of an ONNX ModelProto (Debian's libonnx-dev protobuf): named
// initializers taken from a module's tensors, nodes with attributes, fresh value names, graph
// inputs and outputs with a symbolic batch dimension. The block exporters (exporters.h) write
// their part of the graph through it; nothing here knows about mmfuse's blocks.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

namespace onnx {
class ModelProto;
class AttributeProto;
}  // namespace onnx

namespace mmfuse::onnx_export {

/// One node attribute: an int, a float, a list of ints or a string.
struct OnnxAttr {
  enum class Kind { i, f, ints, s };
  std::string name;
  Kind kind = Kind::i;
  int64_t i = 0;
  float f = 0;
  std::vector<int64_t> ints;
  std::string s;

  static OnnxAttr of(std::string name, int64_t v);
  static OnnxAttr of_float(std::string name, float v);
  static OnnxAttr of(std::string name, std::vector<int64_t> v);
  static OnnxAttr of(std::string name, std::string v);
};

/// Element types of graph inputs/outputs (the ONNX TensorProto codes).
enum class OnnxType : int { float32 = 1, int64 = 7 };

class OnnxGraph {
 public:
  /// `opset`: the default-domain opset the graph is written for (>= 13).
  explicit OnnxGraph(int64_t opset);
  ~OnnxGraph();
  OnnxGraph(const OnnxGraph&) = delete;
  OnnxGraph& operator=(const OnnxGraph&) = delete;

  int64_t opset() const { return opset_; }

  /// A value name not used yet: `hint`, or `hint_2`, `hint_3`, ...
  std::string fresh(const std::string& hint);

  /// `t` (float32 or int64; copied, made contiguous on the CPU) as an initializer named `name`
  /// (made unique with fresh()); returns the name.
  std::string constant(const std::string& name, const torch::Tensor& t);
  /// A 1-D int64 initializer.
  std::string ints(const std::string& hint, const std::vector<int64_t>& values);
  /// An int64 scalar initializer (shape []).
  std::string scalar_int(const std::string& hint, int64_t value);
  /// A float32 scalar initializer (shape []).
  std::string scalar(const std::string& hint, float value);

  /// Adds a node `op` reading `inputs` ("" = an omitted optional input); returns its `outputs`
  /// output names (fresh names from `hint`, default the op's name).
  std::vector<std::string> node(const std::string& op, const std::vector<std::string>& inputs,
                                int outputs, const std::vector<OnnxAttr>& attrs = {},
                                const std::string& hint = "");
  /// A node with one output; returns its name.
  std::string op(const std::string& op, const std::vector<std::string>& inputs,
                 const std::vector<OnnxAttr>& attrs = {}, const std::string& hint = "");

  /// A graph input `name` of `type` and shape `dims` (-1 = symbolic: "batch" for the first
  /// dimension, "<name>_dim<k>" for the others).
  void input(const std::string& name, OnnxType type, const std::vector<int64_t>& dims);
  /// Exposes `value` as the graph output `name` (through an Identity node when the names differ)
  /// of `type` and shape `dims` (-1 as for input()).
  void output(const std::string& name, const std::string& value, OnnxType type,
              const std::vector<int64_t>& dims);

  /// The whole model, serialized (ir_version 7, producer "mmfuse").
  std::string serialize(const std::string& doc) const;
  /// Nodes written so far (for messages and tests).
  int64_t node_count() const;

 private:
  int64_t opset_;
  std::unique_ptr<onnx::ModelProto> model_;
  std::map<std::string, int> used_;
};

// ------------------------------------------------------------------- common layer patterns

/// x [..., in] -> x W^T + b [..., out] (MatMul + Add; W stored transposed as `<prefix>.weight`).
std::string emit_linear(OnnxGraph& g, const std::string& prefix, torch::nn::LinearImpl& linear,
                        const std::string& x);

/// x [..., D] -> LayerNorm over the last dimension (ReduceMean-based: valid from opset 13).
std::string emit_layer_norm(OnnxGraph& g, const std::string& prefix, torch::nn::LayerNormImpl& norm,
                            const std::string& x);

/// Runs a Sequential of Linear, ReLU, Tanh, GELU, Sigmoid, Dropout (identity in eval),
/// LayerNorm and BatchNorm1d (eval) on x [B, D]; children are named `<prefix>.<index>`. Throws
/// Error naming the first child of another type.
std::string emit_sequential(OnnxGraph& g, const std::string& prefix, torch::nn::SequentialImpl& seq,
                            const std::string& x);

}  // namespace mmfuse::onnx_export
