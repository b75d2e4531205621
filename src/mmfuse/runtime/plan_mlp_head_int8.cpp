// Plan compiler of an `mlp` head (nn/heads/mlp.h) whose two Linear layers run in int8 (`mmfuse
// optimize --int8 static`): the module path quantizes each layer's float32 input, runs an int8
// product to float32 and applies ReLU in float32 (nn/quant/int8_kernels.h, Int8Linear). Here the
// hidden layer stays 8-bit: the input is quantized once with the module's rounding (signed codes
// shifted to u8 by kSignedShift, the shift taken off through the bias, as Int8Linear does), the
// first inner product writes the second layer's u8 codes (output scales in_scale * w_scale[n],
// then x / next_scale and clip to [0, kUnsignedMax]: the module's ReLU and next quantization in
// the same float operations), the second writes float32 (plan_int8_linear.h: build_int8_mlp).
// Batches as plan_mlp_head.cpp's.
#include <memory>
#include <vector>

#include "mmfuse/nn/heads/mlp.h"
#include "mmfuse/runtime/plan_compilers.h"
#include "mmfuse/runtime/plan_int8_linear.h"
#include "mmfuse/runtime/plan_mlp_head.h"

namespace mmfuse::runtime {

std::unique_ptr<CompiledHead> compile_mlp_head_int8_plan(const heads::HeadBlock& block,
                                                         const nn::quant::QuantizedModel& model) {
  auto head = std::dynamic_pointer_cast<heads::MlpHeadImpl>(block.module());
  if (!head || !head->net || model.mode != nn::quant::QuantMode::static_int8 || !model.hooks) {
    return nullptr;
  }
  std::vector<Int8Layer> layers;
  for (const auto& m : head->net->children()) {
    auto* linear = m->as<torch::nn::Linear>();
    if (!linear) continue;
    LinearQuant q = linear_quant(model, linear->weight, linear->bias);
    if (!q.int8) return nullptr;  // a float32 or dynamic layer: the module path (or float compiler)
    layers.push_back(*q.int8);
  }
  if (layers.size() != 2 || !layers[1].kernel->input()->is_unsigned) return nullptr;
  return make_mlp_head_plan(std::move(head), [first = layers[0], second = layers[1]](int64_t rows) {
    return build_int8_mlp(first, second, rows);
  });
}

}  // namespace mmfuse::runtime
