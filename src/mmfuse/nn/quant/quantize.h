// Post-training int8 quantization of a torch module tree (any model of the registries): the
// layers are found by type (torch::nn::Linear; Conv2d that runs through the folded conv+BN path),
// calibrated by running the model, and replaced in its forward through the hooks of hooks.h.
//
// Stored format (model.safetensors of a quantized run, readable from Python); for a quantized
// layer `<m>` its float `<m>.weight` is left out and these are written instead:
//   <m>.weight_int8        I8  [out, in] (Linear) or [out, in/groups, kh, kw] (Conv2d, batch norm
//                              folded in), per output channel symmetric: w ~= weight_int8 * scale
//   <m>.weight_scale       F32 [out]
//   <m>.input_scale        F32 [1]   static only: activation step (x ~= q * input_scale)
//   <m>.input_zero_point   I32 [1]   static only: always 0 (symmetric)
//   <m>.input_unsigned     U8  [1]   static only: 1 = q in [0, 255] (input never negative),
//                                    0 = q in [-127, 127]
//   <m>.folded_bias        F32 [out] Conv2d only: beta + (b - mean) * gamma / sqrt(var + eps);
//                              the folded batch norm's own tensors are not stored (a loaded model
//                              holds it as the identity with this bias, the conv its folded weight)
// Every other float parameter `<p>` with 2 or more dimensions and at least kWeightOnlyMinSize
// values (attention in-projections, low-rank factors, positional tables, embeddings, layers that
// stayed float32) is stored as int8 too, weight only — it computes in float32 after loading:
//   <p>.int8               I8  same shape as <p>, symmetric: p ~= int8 * int8_scale
//   <p>.int8_scale         F32 [d0, 1] (2-d), [d0, 1, ..., 1, d_last] (3-d and more): per row,
//                              and per last-axis column too beyond 2-d (broadcasts against <p>)
// The file's "quantization" metadata entry is JSON: {"mode": "static"|"dynamic",
// "layers": {"<m>": {"kind": "linear"|"conv2d", "bn": "<batch norm module>"}},
// "float": {"<m>": "<why>"}, "weight_only": ["<p>", ...]}.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "mmfuse/nn/quant/hooks.h"

namespace mmfuse::nn::quant {

enum class QuantMode { static_int8, dynamic_int8 };

/// "static" / "dynamic".
std::string to_string(QuantMode mode);
/// Parses "static" / "dynamic"; throws UsageError naming the accepted values otherwise.
QuantMode parse_quant_mode(const std::string& text);

struct QuantizeOptions {
  QuantMode mode = QuantMode::static_int8;
  /// Layers (dotted module names) kept in float32.
  std::vector<std::string> float_layers;
  /// Activation range from calibration: 100 = min/max; below it, that percentile of |x|
  /// (e.g. 99.99 clips rare outliers).
  double percentile = 100.0;
};

/// A layer the quantizer can handle: "linear" or "conv2d", by dotted module name.
struct QuantizableLayer {
  std::string name;
  std::string kind;
  torch::nn::Module* module = nullptr;
};

/// Every Linear and Conv2d of `root`, in module order.
std::vector<QuantizableLayer> quantizable_layers(torch::nn::Module& root);

/// Observes the inputs of every quantizable layer of `root` while it lives: run the model
/// (eval mode, no autograd) on calibration batches in between.
class Calibrator {
 public:
  explicit Calibrator(torch::nn::Module& root);
  /// Observations by layer name (a layer that never ran has calls == 0).
  std::map<std::string, LayerObservation> observations() const;

 private:
  LayerHooks hooks_;
};

/// A model whose layers run in int8 while this lives.
struct QuantizedModel {
  QuantMode mode = QuantMode::static_int8;
  std::unique_ptr<LayerHooks> hooks;
  /// Layers running in int8.
  std::vector<std::string> quantized;
  /// Layers left in float32, with the reason.
  std::map<std::string, std::string> float_layers;
  /// Conv2d name -> the batch norm folded into it.
  std::map<std::string, std::string> folded_bn;
  /// Float parameters stored weight-only int8 (dequantized to float32 when loaded).
  std::vector<std::string> weight_only;
};

/// Quantizes the layers of `root` (static mode needs `observations` from a Calibrator run on the
/// same model; dynamic mode ignores them). Layers that cannot be quantized stay float with their
/// reason in the result. `root` itself is not changed.
std::shared_ptr<QuantizedModel> quantize_module(
    torch::nn::Module& root, const std::map<std::string, LayerObservation>& observations,
    const QuantizeOptions& options);

/// Smallest float parameter (values) stored weight-only int8.
constexpr int64_t kWeightOnlyMinSize = 1024;

/// Per-row (2-d) or per-row-and-last-column (3-d+) symmetric int8 of a float tensor, and back:
/// values int8 in the tensor's shape, scale float32 broadcastable against it (format above).
using WeightOnlyInt8 = ChannelQuantized;
WeightOnlyInt8 quantize_weight_only(const torch::Tensor& weight);
torch::Tensor dequantize_weight_only(const WeightOnlyInt8& q);

/// The tensors and metadata of a quantized model's file (format above); `weight_only`: also
/// store the remaining large float parameters as int8 (their names are added to `model`).
std::map<std::string, torch::Tensor> quantized_state(torch::nn::Module& root, QuantizedModel& model,
                                                     bool weight_only = true);
/// The file's "quantization" metadata entry; call it after quantized_state (which names the
/// weight-only parameters), or use save_quantized, which does both in order.
std::string quantized_metadata(const QuantizedModel& model);
/// Writes the quantized model's file at `path` (format above), atomically.
void save_quantized(const std::string& path, torch::nn::Module& root, QuantizedModel& model,
                    bool weight_only = true);

/// Loads a quantized file written from quantized_state into `root` (built from the same config)
/// and returns the hooks running it. Throws Error naming the file for a file without the
/// "quantization" metadata or with missing/mismatched tensors.
std::shared_ptr<QuantizedModel> load_quantized_module(torch::nn::Module& root,
                                                      const std::string& path);

/// True when the safetensors file at `path` holds a quantized model.
bool is_quantized_file(const std::string& path);

}  // namespace mmfuse::nn::quant
