// Plan compiler of an `mlp` head (nn/heads/mlp.h) whose two Linear layers run in int8 (`mmfuse
// optimize --int8 static`): the module path quantizes each layer's float32 input, runs an int8
// product to float32 and applies ReLU in float32 (nn/quant/int8_kernels.h, Int8Linear). Here the
// hidden layer stays 8-bit: the input is quantized once with the module's rounding (signed codes
// shifted to u8 by kSignedShift, the shift taken off through the bias, as Int8Linear does), the
// first inner product writes the second layer's u8 codes (output scales in_scale * w_scale[n],
// then x / next_scale and clip to [0, kUnsignedMax]: the module's ReLU and next quantization in
// the same float operations), the second writes float32. Batches as plan_mlp_head.cpp's.
#include <oneapi/dnnl/dnnl.hpp>

#include <memory>
#include <vector>

#include "mmfuse/nn/heads/mlp.h"
#include "mmfuse/nn/quant/int8_kernels.h"
#include "mmfuse/runtime/plan_compilers.h"
#include "mmfuse/runtime/plan_dnnl.h"
#include "mmfuse/runtime/plan_mlp_head.h"

namespace mmfuse::runtime {

namespace {

using dnnl::memory;
using MlpTag = memory::format_tag;

struct Int8Layer {
  std::shared_ptr<const nn::quant::Int8Linear> kernel;
  torch::Tensor bias;  // [out], the Linear's own (float32)
};

// An int8 inner product [rows, in] u8 -> [rows, out]: u8 codes of the next layer (next_scale > 0)
// or float32.
void add_int8_inner_product(DnnlProgram& p, const Int8Layer& layer, int64_t rows, int src, int dst,
                            float next_scale) {
  const auto& k = *layer.kernel;
  const nn::quant::ActivationQuant in_q = *k.input();
  const int64_t in = k.weight_int8().size(1), out = k.weight_int8().size(0);
  const auto dst_type = next_scale > 0.0F ? memory::data_type::u8 : memory::data_type::f32;
  // The module's scales and bias, in its order of operations (int8_kernels.cpp).
  const torch::Tensor scales = (k.weight_scale() * in_q.scale).contiguous();
  torch::Tensor bias = (layer.bias / scales).contiguous();
  if (!in_q.is_unsigned) {
    const torch::Tensor shift =
        k.weight_int8().to(torch::kFloat).sum(1) * (-nn::quant::kSignedShift);
    bias = (bias + shift).contiguous();
  }
  const memory::desc bias_md({out}, memory::data_type::f32, MlpTag::x);
  dnnl::inner_product_forward::desc desc(
      dnnl::prop_kind::forward_inference,
      memory::desc({rows, in}, memory::data_type::u8, MlpTag::nc),
      memory::desc({out, in}, memory::data_type::s8, MlpTag::any), bias_md,
      memory::desc({rows, out}, dst_type, MlpTag::nc));
  dnnl::primitive_attr attr = plan_attr();
  attr.set_output_scales(
      1 << 1, std::vector<float>(scales.data_ptr<float>(), scales.data_ptr<float>() + out));
  if (next_scale > 0.0F) {
    dnnl::post_ops ops;
    ops.append_eltwise(1.F, dnnl::algorithm::eltwise_linear, 1.F / next_scale, 0.F);
    ops.append_eltwise(1.F, dnnl::algorithm::eltwise_clip, 0.F, nn::quant::kUnsignedMax);
    attr.set_post_ops(ops);
  }
  dnnl::inner_product_forward::primitive_desc pd(desc, attr, plan_engine());
  DnnlStep& s = p.add_step(dnnl::inner_product_forward(pd), pd);
  s.slots = {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}};
  s.constants = {
      {DNNL_ARG_WEIGHTS,
       plan_constant(k.weight_int8(), memory::desc({out, in}, memory::data_type::s8, MlpTag::oi),
                     pd.weights_desc())},
      {DNNL_ARG_BIAS, plan_constant(bias, bias_md, pd.bias_desc())}};
}

std::unique_ptr<DnnlProgram> build_int8_mlp(const Int8Layer& first, const Int8Layer& second,
                                            int64_t rows) {
  auto p = std::make_unique<DnnlProgram>();
  const nn::quant::ActivationQuant in_q = *first.kernel->input();
  const int64_t in = first.kernel->weight_int8().size(1);
  const int64_t hidden = first.kernel->weight_int8().size(0);
  p->input = plan_rows_desc(rows, in);
  p->output = plan_rows_desc(rows, second.kernel->weight_int8().size(0));
  const int codes = p->add_buffer(memory::desc({rows, in}, memory::data_type::u8, MlpTag::nc));
  add_quantize_step(*p, kPlanInput, codes, rows * in, in_q, /*shift_signed=*/true);
  const int hidden_codes =
      p->add_buffer(memory::desc({rows, hidden}, memory::data_type::u8, MlpTag::nc));
  add_int8_inner_product(*p, first, rows, codes, hidden_codes, second.kernel->input()->scale);
  add_int8_inner_product(*p, second, rows, hidden_codes, kPlanOutput, 0.0F);
  return p;
}

}  // namespace

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
    const nn::quant::HookedLayer* hooked = model.hooks->find(linear->weight);
    if (!hooked || !hooked->linear || !hooked->linear->input() || !linear->bias.defined()) {
      return nullptr;  // a float32 or dynamic layer: the module path (or the float compiler)
    }
    layers.push_back({hooked->linear, linear->bias.detach().to(torch::kFloat).contiguous()});
  }
  if (layers.size() != 2 || !layers[1].kernel->input()->is_unsigned) return nullptr;
  return make_mlp_head_plan(std::move(head), [first = layers[0], second = layers[1]](int64_t rows) {
    return build_int8_mlp(first, second, rows);
  });
}

}  // namespace mmfuse::runtime
