// Int8 Linear layers inside a compiled plan (`mmfuse optimize --int8 static` runs): the module
// path quantizes a hooked Linear's float32 input, runs an int8 product to float32 and adds the
// bias (nn/quant/int8_kernels.h, Int8Linear). These steps do the same in oneDNN primitives, for
// the int8 MLP head (plan_mlp_head_int8.cpp) and the int8 cross-attention
// (plan_cross_attention.cpp).
#pragma once

#include <memory>
#include <optional>

#include <torch/torch.h>

#include "mmfuse/nn/quant/int8_kernels.h"
#include "mmfuse/nn/quant/quantize.h"
#include "mmfuse/runtime/plan_dnnl.h"

namespace mmfuse::runtime {

/// A static int8 Linear of the run: its kernel (codes, scales, input quantization) and its own
/// float32 bias [out].
struct Int8Layer {
  std::shared_ptr<const nn::quant::Int8Linear> kernel;
  torch::Tensor bias;
};

/// How a run computes the Linear of `weight`: float32 (not hooked), as a static int8 layer, or in
/// a way no plan step reproduces (a dynamic layer, a calibration hook, no bias).
struct LinearQuant {
  bool hooked = false;
  std::optional<Int8Layer> int8;
  bool compilable() const { return !hooked || int8.has_value(); }
};
LinearQuant linear_quant(const nn::quant::QuantizedModel& model, const torch::Tensor& weight,
                         const torch::Tensor& bias);

/// An int8 inner product [rows, in] of u8 codes (signed inputs shifted by kSignedShift, taken off
/// through the bias as Int8Linear does) -> [rows, out]: the next layer's u8 codes when
/// next_scale > 0 (ReLU and quantization as post-ops), else float32.
void add_int8_inner_product(DnnlProgram& p, const Int8Layer& layer, int64_t rows, int src, int dst,
                            float next_scale);

/// float32 [rows, in] -> float32 [rows, out] through one int8 layer (input quantized on the host).
std::unique_ptr<DnnlProgram> build_int8_linear(const Int8Layer& layer, int64_t rows);

/// float32 [rows, in] -> Linear -> ReLU -> Linear -> float32, both layers int8 and the hidden
/// layer kept as u8 codes (`second`'s input must be unsigned).
std::unique_ptr<DnnlProgram> build_int8_mlp(const Int8Layer& first, const Int8Layer& second,
                                            int64_t rows);

}  // namespace mmfuse::runtime
