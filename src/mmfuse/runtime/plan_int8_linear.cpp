#include "mmfuse/runtime/plan_int8_linear.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <vector>

#include "mmfuse/nn/quant/hooks.h"

namespace mmfuse::runtime {

using dnnl::memory;
using Tag = memory::format_tag;

LinearQuant linear_quant(const nn::quant::QuantizedModel& model, const torch::Tensor& weight,
                         const torch::Tensor& bias) {
  LinearQuant q;
  const nn::quant::HookedLayer* hooked = model.hooks ? model.hooks->find(weight) : nullptr;
  if (!hooked) return q;
  q.hooked = true;
  if (model.mode == nn::quant::QuantMode::static_int8 && hooked->linear &&
      hooked->linear->input() && bias.defined()) {
    q.int8 = Int8Layer{hooked->linear, bias.detach().to(torch::kFloat).contiguous()};
  }
  return q;
}

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
  const memory::desc bias_md({out}, memory::data_type::f32, Tag::x);
  dnnl::inner_product_forward::desc desc(dnnl::prop_kind::forward_inference,
                                         memory::desc({rows, in}, memory::data_type::u8, Tag::nc),
                                         memory::desc({out, in}, memory::data_type::s8, Tag::any),
                                         bias_md, memory::desc({rows, out}, dst_type, Tag::nc));
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
       plan_constant(k.weight_int8(), memory::desc({out, in}, memory::data_type::s8, Tag::oi),
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
  const int codes = p->add_buffer(memory::desc({rows, in}, memory::data_type::u8, Tag::nc));
  add_quantize_step(*p, kPlanInput, codes, rows * in, in_q, /*shift_signed=*/true);
  const int hidden_codes =
      p->add_buffer(memory::desc({rows, hidden}, memory::data_type::u8, Tag::nc));
  add_int8_inner_product(*p, first, rows, codes, hidden_codes, second.kernel->input()->scale);
  add_int8_inner_product(*p, second, rows, hidden_codes, kPlanOutput, 0.0F);
  return p;
}

std::unique_ptr<DnnlProgram> build_int8_linear(const Int8Layer& layer, int64_t rows) {
  auto p = std::make_unique<DnnlProgram>();
  const int64_t in = layer.kernel->weight_int8().size(1);
  p->input = plan_rows_desc(rows, in);
  p->output = plan_rows_desc(rows, layer.kernel->weight_int8().size(0));
  const int codes = p->add_buffer(memory::desc({rows, in}, memory::data_type::u8, Tag::nc));
  add_quantize_step(*p, kPlanInput, codes, rows * in, *layer.kernel->input(),
                    /*shift_signed=*/true);
  add_int8_inner_product(*p, layer, rows, codes, kPlanOutput, 0.0F);
  return p;
}

}  // namespace mmfuse::runtime
