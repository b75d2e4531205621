#include "mmfuse/nn/quant/int8_kernels.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <mutex>
#include <tuple>
#include <unordered_map>

#include "mmfuse/core/error.h"

namespace mmfuse::nn::quant {

namespace {

using dnnl::memory;

dnnl::engine& int8_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::stream& int8_stream() {
  thread_local dnnl::stream stream(int8_engine());
  return stream;
}

ActivationQuant dynamic_quant(const torch::Tensor& x) {
  auto mm = torch::aminmax(x);
  return activation_quant(std::get<0>(mm).item<float>(), std::get<1>(mm).item<float>());
}

memory::data_type act_type(const ActivationQuant& q) {
  return q.is_unsigned ? memory::data_type::u8 : memory::data_type::s8;
}

// Output scales in_scale * w_scale[n] and the bias pre-divided by them (oneDNN v2 adds the bias
// to the s32 accumulator before the output scales).
std::pair<torch::Tensor, torch::Tensor> scales_and_bias(const torch::Tensor& w_scale,
                                                        const torch::Tensor& bias, float in_scale) {
  torch::Tensor scales = (w_scale * in_scale).contiguous();
  torch::Tensor b = bias.defined() ? (bias / scales).contiguous() : torch::Tensor();
  return {scales, b};
}

}  // namespace

ActivationQuant activation_quant(float min, float max) {
  ActivationQuant q;
  q.is_unsigned = min >= 0.0F;
  float range =
      q.is_unsigned ? max / kUnsignedMax : std::max(std::fabs(min), std::fabs(max)) / kSignedMax;
  if (!std::isfinite(range) || range <= 0.0F) range = 1.0F;  // an all-zero input: any scale
  q.scale = range;
  return q;
}

void quantize_activations(const float* x, int64_t n, const ActivationQuant& q, void* out) {
  const float inv = 1.0F / q.scale;
  if (q.is_unsigned) {
    auto* o = static_cast<uint8_t*>(out);
    for (int64_t i = 0; i < n; ++i) {
      float v = std::nearbyint(x[i] * inv);
      o[i] = static_cast<uint8_t>(std::min(kUnsignedMax, std::max(0.0F, v)));
    }
  } else {
    auto* o = static_cast<int8_t*>(out);
    for (int64_t i = 0; i < n; ++i) {
      float v = std::nearbyint(x[i] * inv);
      o[i] = static_cast<int8_t>(std::min(kSignedMax, std::max(-kSignedMax, v)));
    }
  }
}

ChannelQuantized quantize_symmetric(const torch::Tensor& weight,
                                    const std::vector<int64_t>& reduce) {
  torch::NoGradGuard no_grad;
  auto w = weight.detach().to(torch::kFloat).contiguous();
  auto scale = w.abs().amax(reduce, /*keepdim=*/true) / 127.0F;
  scale = torch::where(scale > 0, scale, torch::ones_like(scale));
  auto values = torch::round(w / scale).clamp(-127, 127).to(torch::kChar);
  return {values.contiguous(), scale.contiguous()};
}

ChannelQuantized quantize_per_channel(const torch::Tensor& weight) {
  std::vector<int64_t> rest;  // every axis but the output channels
  for (int64_t d = 1; d < weight.dim(); ++d) rest.push_back(d);
  auto q = quantize_symmetric(weight, rest);
  return {q.values, q.scale.reshape({-1}).contiguous()};
}

torch::Tensor dequantize_per_channel(const torch::Tensor& values, const torch::Tensor& scale) {
  std::vector<int64_t> shape(values.dim(), 1);
  shape[0] = -1;
  return values.to(torch::kFloat) * scale.reshape(shape);
}

// ------------------------------------------------------------------------------ Linear

Int8Linear::Int8Linear(torch::Tensor weight_int8, torch::Tensor weight_scale,
                       std::optional<ActivationQuant> input)
    : weight_(weight_int8.contiguous()),
      scale_(weight_scale.to(torch::kFloat).contiguous()),
      weight_sum_(weight_.to(torch::kFloat).sum(1).contiguous()),
      input_(input) {
  TORCH_CHECK(weight_.dim() == 2 && weight_.scalar_type() == torch::kChar,
              "Int8Linear expected int8 weights [N, K], got ", weight_.sizes(), " ",
              weight_.scalar_type());
  TORCH_CHECK(scale_.numel() == weight_.size(0), "Int8Linear expected ", weight_.size(0),
              " weight scales, got ", scale_.numel());
}

torch::Tensor Int8Linear::forward(const torch::Tensor& x_in, const torch::Tensor& bias_in) const {
  TORCH_CHECK(x_in.dim() == 2 && x_in.size(1) == weight_.size(1), "Int8Linear expected [M, ",
              weight_.size(1), "], got ", x_in.sizes());
  auto x = x_in.to(torch::kFloat).contiguous();
  const int64_t m = x.size(0), k = x.size(1), n = weight_.size(0);
  const ActivationQuant q = input_ ? *input_ : dynamic_quant(x);
  // Signed inputs run as u8 shifted by kSignedShift (oneDNN's own s8 x s8 path on AVX2 gave wrong
  // sums for small K here); the shift comes off through the bias: -shift * sum_k w[n, k].
  auto qx = torch::empty({m, k},
                         torch::TensorOptions().dtype(q.is_unsigned ? torch::kByte : torch::kChar));
  quantize_activations(x.data_ptr<float>(), m * k, q, qx.data_ptr());
  if (!q.is_unsigned) qx = (qx.to(torch::kShort) + kSignedShift).to(torch::kByte);
  auto bias_f = bias_in.defined() ? bias_in.to(torch::kFloat).reshape({-1}) : bias_in;
  auto [scales, bias] = scales_and_bias(scale_, bias_f, q.scale);
  if (!q.is_unsigned) {
    auto shift = weight_sum_ * (-kSignedShift);
    bias = bias.defined() ? (bias + shift).contiguous() : shift.contiguous();
  }

  memory::desc a(memory::dims{m, k}, memory::data_type::u8, memory::dims{k, 1});
  memory::desc b(memory::dims{k, n}, memory::data_type::s8, memory::dims{1, k});
  memory::desc c(memory::dims{m, n}, memory::data_type::f32, memory::dims{n, 1});
  memory::desc bias_md(memory::dims{1, n}, memory::data_type::f32, memory::dims{n, 1});
  dnnl::primitive_attr attr;
  attr.set_output_scales(1 << 1, {DNNL_RUNTIME_F32_VAL});
  // Primitives by shape and bias (thread-local: cheap to execute from any thread, but the cache
  // map is not shared).
  using Key = std::tuple<int64_t, int64_t, int64_t, bool>;
  thread_local std::map<Key, dnnl::matmul> cache;
  Key key{m, k, n, bias.defined()};
  auto it = cache.find(key);
  if (it == cache.end()) {
    if (cache.size() >= 1024) cache.clear();
    auto d = bias.defined() ? dnnl::matmul::desc(a, b, bias_md, c) : dnnl::matmul::desc(a, b, c);
    it = cache.emplace(key, dnnl::matmul(dnnl::matmul::primitive_desc(d, attr, int8_engine())))
             .first;
  }
  auto& engine = int8_engine();
  torch::Tensor out = torch::empty({m, n}, x.options());
  std::unordered_map<int, memory> args{
      {DNNL_ARG_SRC, memory(a, engine, qx.data_ptr())},
      {DNNL_ARG_WEIGHTS, memory(b, engine, weight_.data_ptr())},
      {DNNL_ARG_DST, memory(c, engine, out.data_ptr())},
      {DNNL_ARG_ATTR_OUTPUT_SCALES,
       memory(memory::desc({n}, memory::data_type::f32, memory::dims{1}), engine,
              scales.data_ptr())}};
  if (bias.defined()) args.emplace(DNNL_ARG_BIAS, memory(bias_md, engine, bias.data_ptr()));
  it->second.execute(int8_stream(), args);
  int8_stream().wait();
  return out;
}

// ------------------------------------------------------------------------------ Conv2d

struct Int8Conv2d::Cache {
  struct Entry {
    dnnl::convolution_forward conv;
    memory::desc src, dst;
    memory::desc scratchpad;  ///< per call: callers share the primitive, not its scratch space
    memory weights;           ///< reordered into the primitive's layout
  };
  std::mutex mutex;
  std::map<std::vector<int64_t>, std::shared_ptr<Entry>> entries;
};

Int8Conv2d::Int8Conv2d(torch::Tensor weight_int8, torch::Tensor weight_scale, torch::Tensor bias,
                       ActivationQuant input, ConvGeometry geometry)
    : weight_(weight_int8.contiguous()),
      scale_(weight_scale.to(torch::kFloat).contiguous()),
      bias_(bias.defined() ? bias.detach().to(torch::kFloat).contiguous()
                           : torch::zeros({weight_int8.size(0)})),
      input_(input),
      geometry_(std::move(geometry)),
      cache_(std::make_shared<Cache>()) {
  TORCH_CHECK(weight_.dim() == 4 && weight_.scalar_type() == torch::kChar,
              "Int8Conv2d expected int8 weights [O, C, kh, kw], got ", weight_.sizes());
  TORCH_CHECK(scale_.numel() == weight_.size(0) && bias_.numel() == weight_.size(0),
              "Int8Conv2d expected ", weight_.size(0), " scales and bias values");
}

torch::Tensor Int8Conv2d::forward(const torch::Tensor& x_in) const {
  const auto& g = geometry_;
  TORCH_CHECK(x_in.dim() == 4 && x_in.size(1) == weight_.size(1) * g.groups,
              "Int8Conv2d expected [B, ", weight_.size(1) * g.groups, ", H, W], got ",
              x_in.sizes());
  const int64_t nb = x_in.size(0), c = x_in.size(1), h = x_in.size(2), w = x_in.size(3);
  const int64_t o = weight_.size(0), kh = weight_.size(2), kw = weight_.size(3);
  const int64_t oh = (h + 2 * g.padding[0] - g.dilation[0] * (kh - 1) - 1) / g.stride[0] + 1;
  const int64_t ow = (w + 2 * g.padding[1] - g.dilation[1] * (kw - 1) - 1) / g.stride[1] + 1;
  auto& engine = int8_engine();
  auto [scales, bias] = scales_and_bias(scale_, bias_, input_.scale);
  std::shared_ptr<Cache::Entry> e;
  {
    std::lock_guard<std::mutex> lock(cache_->mutex);
    auto& slot = cache_->entries[{nb, h, w}];
    if (!slot) {
      auto entry = std::make_shared<Cache::Entry>();
      using tag = memory::format_tag;
      entry->src = memory::desc({nb, c, h, w}, act_type(input_), tag::nhwc);
      entry->dst = memory::desc({nb, o, oh, ow}, memory::data_type::f32, tag::nhwc);
      memory::dims wdims = g.groups == 1
                               ? memory::dims{o, c, kh, kw}
                               : memory::dims{g.groups, o / g.groups, c / g.groups, kh, kw};
      memory::desc w_any(wdims, memory::data_type::s8, tag::any);
      memory::desc b_md({o}, memory::data_type::f32, tag::x);
      dnnl::primitive_attr attr;
      attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
      attr.set_output_scales(
          1 << 1, std::vector<float>(scales.data_ptr<float>(), scales.data_ptr<float>() + o));
      auto d = dnnl::convolution_forward::desc(
          dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct, entry->src,
          w_any, b_md, entry->dst, {g.stride[0], g.stride[1]},
          {g.dilation[0] - 1, g.dilation[1] - 1}, {g.padding[0], g.padding[1]},
          {g.padding[0], g.padding[1]});
      dnnl::convolution_forward::primitive_desc pd(d, attr, engine);
      entry->conv = dnnl::convolution_forward(pd);
      entry->scratchpad = pd.scratchpad_desc();
      memory plain({wdims, memory::data_type::s8, g.groups == 1 ? tag::oihw : tag::goihw}, engine,
                   weight_.data_ptr());
      entry->weights = memory(pd.weights_desc(), engine);
      dnnl::reorder(plain, entry->weights).execute(int8_stream(), plain, entry->weights);
      int8_stream().wait();
      slot = entry;
    }
    e = slot;
  }
  auto x = x_in.to(torch::kFloat).permute({0, 2, 3, 1}).contiguous();  // NHWC
  auto qx =
      torch::empty({nb, h, w, c},
                   torch::TensorOptions().dtype(input_.is_unsigned ? torch::kByte : torch::kChar));
  quantize_activations(x.data_ptr<float>(), x.numel(), input_, qx.data_ptr());
  auto out = torch::empty({nb, oh, ow, o}, x.options());
  std::unordered_map<int, memory> args{
      {DNNL_ARG_SRC, memory(e->src, engine, qx.data_ptr())},
      {DNNL_ARG_WEIGHTS, e->weights},
      {DNNL_ARG_BIAS, memory(memory::desc({o}, memory::data_type::f32, memory::format_tag::x),
                             engine, bias.data_ptr())},
      {DNNL_ARG_DST, memory(e->dst, engine, out.data_ptr())}};
  torch::Tensor scratch;
  if (e->scratchpad.get_size() > 0) {
    scratch = torch::empty({static_cast<int64_t>(e->scratchpad.get_size())}, torch::kByte);
    args.emplace(DNNL_ARG_SCRATCHPAD, memory(e->scratchpad, engine, scratch.data_ptr()));
  }
  e->conv.execute(int8_stream(), args);
  int8_stream().wait();
  return out.permute({0, 3, 1, 2});  // [B, O, H', W'] with channels-last strides
}

}  // namespace mmfuse::nn::quant
