// Plan compiler of a `lenet` encoder whose convolutions run in int8 (`mmfuse optimize --int8
// static`, nn/quant/quantize.h): the module path quantizes each convolution's input from float32,
// runs the int8 convolution to float32, pools and applies ReLU in float32, block by block. Here
// the maps stay 8-bit between blocks: the input is quantized once (the module's own rounding and
// clamping, quantize_activations), each convolution but the last writes the next one's u8 codes
// directly — output scales in_scale * w_scale[o] as the module's, then the post-ops
// x * (1 / next_scale) and clip to [0, kUnsignedMax], which are the module's ReLU and the next
// quantization's round-and-clamp in the same float operations — and max-pooling runs on those
// codes (rounding and clipping are monotone, so they commute with max and the codes equal the
// module's). The last convolution writes float32 with a ReLU post-op, as the fp32 plan does.
// Batch pieces and threads as plan_lenet.cpp (make_lenet_plan).
#include <oneapi/dnnl/dnnl.hpp>

#include <memory>
#include <vector>

#include "mmfuse/nn/quant/int8_kernels.h"
#include "mmfuse/runtime/plan_compilers.h"
#include "mmfuse/runtime/plan_dnnl.h"
#include "mmfuse/runtime/plan_lenet.h"

namespace mmfuse::runtime {

namespace {

using dnnl::memory;
using Int8Tag = memory::format_tag;

struct Int8Stage {
  std::shared_ptr<const nn::quant::Int8Conv2d> conv;
  float out_scale = 0.0F;  // the next stage's input step; 0 for the last stage (float32 out)
};

memory::data_type codes_type(const nn::quant::ActivationQuant& q) {
  return q.is_unsigned ? memory::data_type::u8 : memory::data_type::s8;
}

// One block: [reorder], convolution (+ post-ops), max-pooling 2x2; returns the pooled map's slot
// and updates `cur` / `cur_md` to it.
int add_int8_block(DnnlProgram& p, const Int8Stage& st, int cur_slot, memory::dims& cur,
                   memory::desc& cur_md) {
  const auto& k = *st.conv;
  const int64_t batch = cur[0], out_c = k.weight_int8().size(0), in_c = k.weight_int8().size(1);
  const int64_t ksize = k.weight_int8().size(2), pad = ksize / 2;
  const bool last = st.out_scale == 0.0F;
  const memory::dims wdims = {out_c, in_c, ksize, ksize};
  const memory::dims conv_dims = {batch, out_c, cur[2], cur[3]};  // stride 1, same padding
  const memory::desc bias_md({out_c}, memory::data_type::f32, Int8Tag::x);
  const auto out_type = last ? memory::data_type::f32 : memory::data_type::u8;
  dnnl::convolution_forward::desc cd(
      dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
      memory::desc(cur, cur_md.data_type(), Int8Tag::any),
      memory::desc(wdims, memory::data_type::s8, Int8Tag::any), bias_md,
      memory::desc(conv_dims, out_type, Int8Tag::any), {1, 1}, {pad, pad}, {pad, pad});
  // The module's scales and bias (int8_kernels.cpp): oneDNN v2 adds the bias to the s32
  // accumulator before the output scales, so it is divided by them.
  const torch::Tensor scales = (k.weight_scale() * k.input().scale).contiguous();
  const torch::Tensor bias = (k.bias() / scales).contiguous();
  dnnl::primitive_attr attr;
  attr.set_output_scales(
      1 << 1, std::vector<float>(scales.data_ptr<float>(), scales.data_ptr<float>() + out_c));
  dnnl::post_ops ops;
  if (last) {
    ops.append_eltwise(1.F, dnnl::algorithm::eltwise_relu, 0.F, 0.F);
  } else {
    ops.append_eltwise(1.F, dnnl::algorithm::eltwise_linear, 1.F / st.out_scale, 0.F);
    ops.append_eltwise(1.F, dnnl::algorithm::eltwise_clip, 0.F, nn::quant::kUnsignedMax);
  }
  attr.set_post_ops(ops);
  dnnl::convolution_forward::primitive_desc conv(cd, attr, plan_engine());
  if (conv.src_desc() != cur_md) {
    dnnl::reorder::primitive_desc r(plan_engine(), cur_md, plan_engine(), conv.src_desc());
    const int to = p.add_buffer(conv.src_desc());
    p.add_step(dnnl::reorder(r), r).slots = {{DNNL_ARG_FROM, cur_slot}, {DNNL_ARG_TO, to}};
    cur_slot = to;
  }
  const int conv_out = p.add_buffer(conv.dst_desc());
  DnnlStep& cs = p.add_step(dnnl::convolution_forward(conv), conv);
  cs.slots = {{DNNL_ARG_SRC, cur_slot}, {DNNL_ARG_DST, conv_out}};
  memory plain({wdims, memory::data_type::s8, Int8Tag::oihw}, plan_engine(),
               k.weight_int8().data_ptr());
  memory weights(conv.weights_desc(), plan_engine());  // with oneDNN's s8-input compensation
  dnnl::stream stream(plan_engine());
  dnnl::reorder(plain, weights).execute(stream, plain, weights);
  stream.wait();
  cs.constants = {{DNNL_ARG_WEIGHTS, weights},
                  {DNNL_ARG_BIAS, plan_constant(bias, bias_md, conv.bias_desc())}};
  cur = {batch, out_c, conv_dims[2] / 2, conv_dims[3] / 2};  // MaxPool2: floor
  dnnl::pooling_forward::desc pdsc(dnnl::prop_kind::forward_inference, dnnl::algorithm::pooling_max,
                                   conv.dst_desc(), memory::desc(cur, out_type, Int8Tag::any),
                                   {2, 2}, {2, 2}, {0, 0}, {0, 0});
  dnnl::pooling_forward::primitive_desc pool(pdsc, plan_engine());
  const int pool_out = p.add_buffer(pool.dst_desc());
  p.add_step(dnnl::pooling_forward(pool), pool).slots = {{DNNL_ARG_SRC, conv_out},
                                                         {DNNL_ARG_DST, pool_out}};
  cur_md = pool.dst_desc();
  return pool_out;
}

std::unique_ptr<DnnlProgram> build_lenet_int8_program(const encoders::LeNetOptions& o,
                                                      const std::vector<Int8Stage>& stages,
                                                      int64_t batch) {
  auto p = std::make_unique<DnnlProgram>();
  memory::dims cur = {batch, o.in_channels(), o.input_hw()[0], o.input_hw()[1]};
  p->input = memory::desc(cur, memory::data_type::f32, Int8Tag::nchw);
  const nn::quant::ActivationQuant in_q = stages.front().conv->input();
  memory::desc cur_md(cur, codes_type(in_q), Int8Tag::nchw);
  int cur_slot = p->add_buffer(cur_md);
  const int64_t values = batch * o.in_channels() * o.input_hw()[0] * o.input_hw()[1];
  p->add_host_step(
       [in_q, values](const memory& src, const memory& dst) {
         nn::quant::quantize_activations(static_cast<const float*>(src.get_data_handle()), values,
                                         in_q, dst.get_data_handle());
       },
       "mmfuse:quantize")
      .slots = {{DNNL_ARG_SRC, kPlanInput}, {DNNL_ARG_DST, cur_slot}};
  for (const Int8Stage& st : stages) cur_slot = add_int8_block(*p, st, cur_slot, cur, cur_md);
  p->output = memory::desc(cur, memory::data_type::f32, Int8Tag::nchw);  // the exit
  dnnl::reorder::primitive_desc r(plan_engine(), cur_md, plan_engine(), p->output);
  p->add_step(dnnl::reorder(r), r).slots = {{DNNL_ARG_FROM, cur_slot}, {DNNL_ARG_TO, kPlanOutput}};
  return p;
}

// The int8 kernel of `conv` in `hooks` when it runs as the plan assumes (LeNet's geometry).
std::shared_ptr<const nn::quant::Int8Conv2d> int8_conv_of(const nn::quant::LayerHooks& hooks,
                                                          torch::nn::Conv2dImpl& conv) {
  const nn::quant::HookedLayer* layer = hooks.find(conv.weight);
  if (!layer || !layer->conv) return nullptr;
  const auto& g = layer->conv->geometry();
  const int64_t pad = layer->conv->weight_int8().size(2) / 2;
  const bool lenet_geometry = g.groups == 1 && g.stride == std::vector<int64_t>{1, 1} &&
                              g.dilation == std::vector<int64_t>{1, 1} &&
                              g.padding == std::vector<int64_t>{pad, pad};
  return lenet_geometry ? layer->conv : nullptr;
}

}  // namespace

std::unique_ptr<CompiledEncoder> compile_lenet_int8_plan(const encoders::EncoderBlock& block,
                                                         const nn::quant::QuantizedModel& model) {
  auto lenet = std::dynamic_pointer_cast<encoders::LeNetImpl>(block.module());
  if (!lenet || model.mode != nn::quant::QuantMode::static_int8 || !model.hooks) return nullptr;
  const auto layers = lenet_conv_bn(*lenet);
  if (layers.empty()) return nullptr;
  std::vector<Int8Stage> stages;
  for (const auto& layer : layers) {
    auto conv = int8_conv_of(*model.hooks, *layer.first);
    if (!conv) return nullptr;  // a float layer (kept by sensitivity): the module path
    stages.push_back({conv, 0.0F});
  }
  for (std::size_t i = 0; i + 1 < stages.size(); ++i) {
    const nn::quant::ActivationQuant next = stages[i + 1].conv->input();
    if (!next.is_unsigned) return nullptr;  // after a ReLU it never is
    stages[i].out_scale = next.scale;
  }
  const encoders::LeNetOptions options = lenet->options;
  return make_lenet_plan(std::move(lenet), 1, [options, stages](int64_t batch) {
    return build_lenet_int8_program(options, stages, batch);
  });
}

}  // namespace mmfuse::runtime
