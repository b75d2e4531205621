// Plan compiler of a `lenet` encoder whose convolutions run in int8 (`mmfuse optimize --int8
// static`, nn/quant/quantize.h): the module path quantizes each convolution's input from float32,
// runs the int8 convolution to float32, pools and applies ReLU in float32, block by block. Here
// the maps stay 8-bit between int8 blocks: the input is quantized once (the module's own rounding
// and clamping, quantize_activations), each convolution followed by an int8 one writes that one's
// u8 codes directly — output scales in_scale * w_scale[o] as the module's, then the post-ops
// x * (1 / next_scale) and clip to [0, kUnsignedMax], which are the module's ReLU and the next
// quantization's round-and-clamp in the same float operations — and max-pooling runs on those
// codes (rounding and clipping are monotone, so they commute with max and the codes equal the
// module's). A convolution the sensitivity pass kept in float32 runs as the fp32 plan's (BatchNorm
// folded), its map scaled and clipped the same way and rounded to codes after the pooling when an
// int8 block follows. The last block writes float32 with a ReLU post-op. Batch pieces and
// threads as plan_lenet.cpp (make_lenet_plan).
#include <oneapi/dnnl/dnnl.hpp>

#include <memory>
#include <optional>
#include <vector>

#include "mmfuse/nn/quant/int8_kernels.h"
#include "mmfuse/runtime/plan_compilers.h"
#include "mmfuse/runtime/plan_dnnl.h"
#include "mmfuse/runtime/plan_lenet.h"
#include "mmfuse/runtime/plan_pool.h"

namespace mmfuse::runtime {

namespace {

using dnnl::memory;
using Int8Tag = memory::format_tag;

// One block: an int8 convolution (`int8`) or a float32 one kept by the sensitivity pass (`fp32`).
struct MixedStage {
  std::shared_ptr<const nn::quant::Int8Conv2d> int8;
  LenetStage fp32;
  float next_scale = 0.0F;  // the next stage's input step when it is int8 (u8 codes out), else 0
};

memory::data_type codes_type(const nn::quant::ActivationQuant& q) {
  return q.is_unsigned ? memory::data_type::u8 : memory::data_type::s8;
}

// A float32 map that holds code values already clipped to [0, kUnsignedMax], rounded to u8 in
// the same layout (the module's quantization after its pooling; rounding commutes with max).
int add_round_to_codes(DnnlProgram& p, int src, memory::desc& md) {
  memory::desc codes = md;
  codes.data.data_type = dnnl_u8;  // same dims, blocking and padding, one byte a value
  const int dst = p.add_buffer(codes);
  const auto values = static_cast<int64_t>(md.get_size() / sizeof(float));
  nn::quant::ActivationQuant unit;  // scale 1: the values are codes already
  add_quantize_step(p, src, dst, values, unit);
  md = codes;
  return dst;
}

// One block: [reorder], convolution (+ post-ops), max-pooling 2x2 [, rounding to codes]; returns
// the block's output slot and updates `cur` / `cur_md` to it.
int add_mixed_block(DnnlProgram& p, const MixedStage& st, int cur_slot, memory::dims& cur,
                    memory::desc& cur_md) {
  const bool int8 = st.int8 != nullptr, codes_out = st.next_scale > 0.0F;
  const torch::Tensor& w = int8 ? st.int8->weight_int8() : st.fp32.weight;
  const int64_t batch = cur[0], out_c = w.size(0), ksize = w.size(2), pad = ksize / 2;
  const memory::dims wdims = {out_c, w.size(1), ksize, ksize};
  const memory::dims conv_dims = {batch, out_c, cur[2], cur[3]};  // stride 1, same padding
  const auto w_type = int8 ? memory::data_type::s8 : memory::data_type::f32;
  const auto out_type = int8 && codes_out ? memory::data_type::u8 : memory::data_type::f32;
  const memory::desc bias_md({out_c}, memory::data_type::f32, Int8Tag::x);
  dnnl::convolution_forward::desc cd(
      dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
      memory::desc(cur, cur_md.data_type(), Int8Tag::any),
      memory::desc(wdims, w_type, Int8Tag::any), bias_md,
      memory::desc(conv_dims, out_type, Int8Tag::any), {1, 1}, {pad, pad}, {pad, pad});
  dnnl::primitive_attr attr = plan_attr();
  torch::Tensor bias = st.fp32.bias;
  if (int8) {  // the module's scales and bias (int8_kernels.cpp): oneDNN v2 adds the bias to the
               // s32 accumulator before the output scales, so it is divided by them
    const torch::Tensor scales = (st.int8->weight_scale() * st.int8->input().scale).contiguous();
    bias = (st.int8->bias() / scales).contiguous();
    attr.set_output_scales(
        1 << 1, std::vector<float>(scales.data_ptr<float>(), scales.data_ptr<float>() + out_c));
  }
  dnnl::post_ops ops;
  if (codes_out) {  // the module's ReLU, then the next quantization's x / scale and clamp
    ops.append_eltwise(1.F, dnnl::algorithm::eltwise_linear, 1.F / st.next_scale, 0.F);
    ops.append_eltwise(1.F, dnnl::algorithm::eltwise_clip, 0.F, nn::quant::kUnsignedMax);
  } else {
    ops.append_eltwise(1.F, dnnl::algorithm::eltwise_relu, 0.F, 0.F);
  }
  attr.set_post_ops(ops);
  dnnl::convolution_forward::primitive_desc conv(cd, attr, plan_engine());
  if (conv.src_desc() != cur_md) {
    dnnl::reorder::primitive_desc r(plan_engine(), cur_md, plan_engine(), conv.src_desc(),
                                    plan_attr());
    const int to = p.add_buffer(conv.src_desc());
    p.add_step(dnnl::reorder(r), r).slots = {{DNNL_ARG_FROM, cur_slot}, {DNNL_ARG_TO, to}};
    cur_slot = to;
  }
  const int conv_out = p.add_buffer(conv.dst_desc());
  DnnlStep& cs = p.add_step(dnnl::convolution_forward(conv), conv);
  cs.slots = {{DNNL_ARG_SRC, cur_slot}, {DNNL_ARG_DST, conv_out}};
  // Weights reordered into the primitive's layout (with oneDNN's s8-input compensation for int8).
  cs.constants = {{DNNL_ARG_WEIGHTS, plan_constant(w, memory::desc(wdims, w_type, Int8Tag::oihw),
                                                   conv.weights_desc())},
                  {DNNL_ARG_BIAS, plan_constant(bias, bias_md, conv.bias_desc())}};
  cur = {batch, out_c, conv_dims[2] / 2, conv_dims[3] / 2};  // MaxPool2: floor
  if (conv.dst_desc() == memory::desc(conv_dims, memory::data_type::u8, Int8Tag::nhwc)) {
    cur_md = memory::desc(cur, memory::data_type::u8, Int8Tag::nhwc);  // plan_pool.h: why
    const int out = p.add_buffer(cur_md);
    const int64_t h = conv_dims[2], w = conv_dims[3];
    p.add_host_step(
         [batch, h, w, out_c](const memory& src, const memory& dst) {
           max_pool2x2_nhwc_u8(static_cast<const uint8_t*>(src.get_data_handle()),
                               static_cast<uint8_t*>(dst.get_data_handle()), batch, h, w, out_c);
         },
         "mmfuse:max_pool_2x2:nhwc_u8")
        .slots = {{DNNL_ARG_SRC, conv_out}, {DNNL_ARG_DST, out}};
    return out;
  }
  dnnl::pooling_forward::desc pdsc(dnnl::prop_kind::forward_inference, dnnl::algorithm::pooling_max,
                                   conv.dst_desc(), memory::desc(cur, out_type, Int8Tag::any),
                                   {2, 2}, {2, 2}, {0, 0}, {0, 0});
  dnnl::pooling_forward::primitive_desc pool(pdsc, plan_attr(), plan_engine());
  int out = p.add_buffer(pool.dst_desc());
  p.add_step(dnnl::pooling_forward(pool), pool).slots = {{DNNL_ARG_SRC, conv_out},
                                                         {DNNL_ARG_DST, out}};
  cur_md = pool.dst_desc();
  if (codes_out && !int8) out = add_round_to_codes(p, out, cur_md);
  return out;
}

std::unique_ptr<DnnlProgram> build_mixed_program(const encoders::LeNetOptions& o,
                                                 const std::vector<MixedStage>& stages,
                                                 int64_t batch) {
  auto p = std::make_unique<DnnlProgram>();
  memory::dims cur = {batch, o.in_channels(), o.input_hw()[0], o.input_hw()[1]};
  p->input = memory::desc(cur, memory::data_type::f32, Int8Tag::nchw);
  memory::desc cur_md = p->input;
  int cur_slot = kPlanInput;
  if (stages.front().int8) {  // quantized once, as the module's first int8 layer does
    const nn::quant::ActivationQuant in_q = stages.front().int8->input();
    cur_md = memory::desc(cur, codes_type(in_q), Int8Tag::nchw);
    cur_slot = p->add_buffer(cur_md);
    const int64_t values = batch * o.in_channels() * o.input_hw()[0] * o.input_hw()[1];
    add_quantize_step(*p, kPlanInput, cur_slot, values, in_q);
  }
  for (const MixedStage& st : stages) cur_slot = add_mixed_block(*p, st, cur_slot, cur, cur_md);
  p->output = memory::desc(cur, memory::data_type::f32, Int8Tag::nchw);  // the exit
  dnnl::reorder::primitive_desc r(plan_engine(), cur_md, plan_engine(), p->output, plan_attr());
  p->add_step(dnnl::reorder(r), r).slots = {{DNNL_ARG_FROM, cur_slot}, {DNNL_ARG_TO, kPlanOutput}};
  return p;
}

// The block of `conv` in `hooks`: int8 (LeNet's geometry), float32 (not hooked: kept float), or
// nullopt when the plan cannot run it (being calibrated, another geometry).
std::optional<MixedStage> mixed_stage_of(const nn::quant::LayerHooks& hooks,
                                         torch::nn::Conv2dImpl& conv,
                                         torch::nn::BatchNorm2dImpl& bn) {
  const nn::quant::HookedLayer* layer = hooks.find(conv.weight);
  if (!layer) {
    if (!bn.options.track_running_stats() || conv.weight.scalar_type() != torch::kFloat ||
        !conv.weight.device().is_cpu()) {
      return std::nullopt;
    }
    return MixedStage{nullptr, fold_lenet_stage(conv, bn), 0.0F};
  }
  if (!layer->conv) return std::nullopt;
  const auto& g = layer->conv->geometry();
  const int64_t pad = layer->conv->weight_int8().size(2) / 2;
  const bool lenet_geometry = g.groups == 1 && g.stride == std::vector<int64_t>{1, 1} &&
                              g.dilation == std::vector<int64_t>{1, 1} &&
                              g.padding == std::vector<int64_t>{pad, pad};
  if (!lenet_geometry) return std::nullopt;
  return MixedStage{layer->conv, {}, 0.0F};
}

}  // namespace

std::unique_ptr<CompiledEncoder> compile_lenet_int8_plan(const encoders::EncoderBlock& block,
                                                         const nn::quant::QuantizedModel& model) {
  auto lenet = std::dynamic_pointer_cast<encoders::LeNetImpl>(block.module());
  if (!lenet || model.mode != nn::quant::QuantMode::static_int8 || !model.hooks) return nullptr;
  const auto layers = lenet_conv_bn(*lenet);
  if (layers.empty()) return nullptr;
  std::vector<MixedStage> stages;
  bool any_int8 = false;
  for (const auto& [conv, bn] : layers) {
    auto stage = mixed_stage_of(*model.hooks, *conv, *bn);
    if (!stage) return nullptr;
    any_int8 = any_int8 || stage->int8;
    stages.push_back(std::move(*stage));
  }
  if (!any_int8) return nullptr;  // a float32 LeNet: plan_lenet.cpp's compiler
  for (std::size_t i = 0; i + 1 < stages.size(); ++i) {
    if (!stages[i + 1].int8) continue;
    const nn::quant::ActivationQuant next = stages[i + 1].int8->input();
    if (!next.is_unsigned) return nullptr;  // after a ReLU it never is
    stages[i].next_scale = next.scale;
  }
  const encoders::LeNetOptions options = lenet->options;
  return make_lenet_plan(std::move(lenet), 1, [options, stages](int64_t batch) {
    return build_mixed_program(options, stages, batch);
  });
}

}  // namespace mmfuse::runtime
