#include "mmfuse/nn/encoders/conv_block.h"

#include <oneapi/dnnl/dnnl.hpp>

#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "mmfuse/nn/encoders/blocked_bn_relu_pool.h"
#include "mmfuse/nn/encoders/bn_relu_pool.h"
#include "mmfuse/nn/encoders/single_channel_conv.h"

namespace mmfuse::encoders {

namespace {

using dnnl::memory;
using Tag = memory::format_tag;
constexpr auto kF32 = memory::data_type::f32;

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

// The calling thread's stream (a CPU stream runs in order; one per thread, made once).
dnnl::stream& cpu_stream() {
  thread_local dnnl::stream stream(engine());
  return stream;
}

std::atomic<int64_t> g_runs{0};
std::atomic<bool> g_on{true};

// Blocks with at least this many input channels (and 8 or more output channels) write NHWC; the
// others oneDNN's blocked layout.
constexpr int64_t kMinNhwcInputChannels = 4;

// A float buffer of `md`'s size (a blocked desc may hold padding).
torch::Tensor buffer_for(const memory::desc& md) {
  return torch::empty({static_cast<int64_t>((md.get_size() + 3) / 4)});
}

// A conversion between two descs of the same tensor: nothing when they are equal.
struct Convert {
  memory::desc from, to;
  dnnl::reorder prim;
  bool same = true;

  void init(const memory::desc& f, const memory::desc& t) {
    from = f, to = t, same = f == t;
    if (!same) prim = dnnl::reorder(dnnl::reorder::primitive_desc(engine(), f, engine(), t));
  }
  // `data` in `from`'s layout -> a pointer in `to`'s (data itself, or `out` filled).
  void* run(dnnl::stream& s, void* data, torch::Tensor& out) const {
    if (same) return data;
    out = buffer_for(to);
    memory a(from, engine(), data), b(to, engine(), out.data_ptr());
    prim.execute(s, a, b);
    return out.data_ptr();
  }
  // `data` in `from`'s layout written into `dst` (`to`'s layout, `bytes` long).
  void copy_into(dnnl::stream& s, void* data, void* dst, std::size_t bytes) const {
    if (same) {
      std::memcpy(dst, data, bytes);
      return;
    }
    memory a(from, engine(), data), b(to, engine(), dst);
    prim.execute(s, a, b);
    s.wait();
  }
};

// One block's shapes and its input's layout: the primitives depend on nothing else.
struct Key {
  int64_t n, ic, h, w, oc, k, pad;
  bool nhwc_src;  // the input is channels-last (the previous block's output)
  bool operator==(const Key& o) const {
    return n == o.n && ic == o.ic && h == o.h && w == o.w && oc == o.oc && k == o.k &&
           pad == o.pad && nhwc_src == o.nhwc_src;
  }
};
struct KeyHash {
  std::size_t operator()(const Key& k) const {
    std::size_t h = static_cast<std::size_t>(k.nhwc_src);
    for (int64_t v : {k.n, k.ic, k.h, k.w, k.oc, k.k, k.pad}) {
      h = h * 1000003u ^ std::hash<int64_t>()(v);
    }
    return h;
  }
};

// The three convolution primitives of a block and the reorders around them.
struct Prims {
  int64_t block = 0;  // lanes per pixel of the output: 8, 16 (blocked) or OC (NHWC); 0: unusable
  int64_t oh = 0, ow = 0;
  memory::desc dst;  // the forward's output and the backward's output gradient (blocked)
  dnnl::convolution_forward fwd;
  dnnl::convolution_backward_weights bwd_w;
  dnnl::convolution_backward_data bwd_d;
  memory::desc fwd_scratch, bw_scratch, bd_scratch, bw_dwei, bd_dsrc;
  Convert fwd_src, fwd_wei, bw_src, bw_ddst, bw_dwei_out, bd_wei, bd_ddst, bd_dsrc_out;
};

dnnl::primitive_attr user_scratchpad() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

bool reference_impl(const char* impl) {
  return std::string(impl).rfind("ref", 0) == 0;
}

// What a backward primitive of a block is made from.
struct BackwardDescs {
  memory::desc src, src_any, weights_any, dst, dst_any;
  memory::dims strides, pad;
  dnnl::primitive_attr attr;
  const dnnl::convolution_forward::primitive_desc& forward;
};

// Backward-data or backward-weights reading the forward's output layout as its output gradient;
// where oneDNN has only its reference kernel for that, in layouts of its own choice (reordered).
template <class Backward>
typename Backward::primitive_desc backward_pd(const BackwardDescs& d) {
  const auto algo = dnnl::algorithm::convolution_direct;
  typename Backward::primitive_desc pd(
      typename Backward::desc(algo, d.src, d.weights_any, d.dst, d.strides, d.pad, d.pad), d.attr,
      engine(), d.forward);
  if (!reference_impl(pd.impl_info_str())) return pd;
  return typename Backward::primitive_desc(
      typename Backward::desc(algo, d.src_any, d.weights_any, d.dst_any, d.strides, d.pad, d.pad),
      d.attr, engine(), d.forward);
}

std::shared_ptr<const Prims> make_prims(const Key& key) {
  auto p = std::make_shared<Prims>();
  p->oh = key.h + 2 * key.pad - key.k + 1;
  p->ow = key.w + 2 * key.pad - key.k + 1;
  const memory::dims src_d{key.n, key.ic, key.h, key.w}, wei_d{key.oc, key.ic, key.k, key.k};
  const memory::dims dst_d{key.n, key.oc, p->oh, p->ow}, strides{1, 1}, pad{key.pad, key.pad};
  const memory::desc src_any(src_d, kF32, Tag::any), wei_any(wei_d, kF32, Tag::any);
  const memory::desc src_plain(src_d, kF32, key.nhwc_src ? Tag::nhwc : Tag::nchw);
  const memory::desc wei_plain(wei_d, kF32, Tag::oihw);
  const auto attr = user_scratchpad();
  const auto algo = dnnl::algorithm::convolution_direct;

  // Measured per layer (docs/BENCHMARKS.md): oneDNN's blocked kernels are fastest for a first
  // layer (few input channels), its NHWC kernels for the rest, whose backward-weights otherwise
  // fall back to AVX2 kernels on 8-lane blocks.
  const bool nhwc = key.ic >= kMinNhwcInputChannels && key.oc >= 8;
  // An NHWC block reads NHWC (with `any`, oneDNN may pick only its reference): a plain input is
  // reordered (a pooled map, a quarter of the block's output).
  const memory::desc src_in = nhwc ? memory::desc(src_d, kF32, Tag::nhwc) : src_any;
  dnnl::convolution_forward::primitive_desc fpd(
      dnnl::convolution_forward::desc(dnnl::prop_kind::forward_training, algo, src_in, wei_any,
                                      memory::desc(dst_d, kF32, nhwc ? Tag::nhwc : Tag::any),
                                      strides, pad, pad),
      attr, engine());
  p->dst = fpd.dst_desc();
  if (p->dst == memory::desc(dst_d, kF32, Tag::nChw16c)) p->block = 16;
  if (p->dst == memory::desc(dst_d, kF32, Tag::nChw8c)) p->block = 8;
  if (nhwc && p->dst == memory::desc(dst_d, kF32, Tag::nhwc)) p->block = key.oc;
  const bool thin =
      p->block > 0 && BlockedMap{key.n, key.oc, p->oh, p->ow, p->block}.mostly_padding();
  if (p->block == 0 || thin || reference_impl(fpd.impl_info_str())) {
    p->block = 0;
    return p;
  }
  p->fwd = dnnl::convolution_forward(fpd);
  p->fwd_scratch = fpd.scratchpad_desc();
  p->fwd_src.init(src_plain, fpd.src_desc());
  p->fwd_wei.init(wei_plain, fpd.weights_desc());

  const BackwardDescs descs{src_in,  src_any, wei_any, p->dst, memory::desc(dst_d, kF32, Tag::any),
                            strides, pad,     attr,    fpd};
  const auto wpd = backward_pd<dnnl::convolution_backward_weights>(descs);
  p->bwd_w = dnnl::convolution_backward_weights(wpd);
  p->bw_scratch = wpd.scratchpad_desc();
  p->bw_dwei = wpd.diff_weights_desc();
  p->bw_src.init(src_plain, wpd.src_desc());
  p->bw_ddst.init(p->dst, wpd.diff_dst_desc());
  p->bw_dwei_out.init(wpd.diff_weights_desc(), wei_plain);

  const auto dpd = backward_pd<dnnl::convolution_backward_data>(descs);
  p->bwd_d = dnnl::convolution_backward_data(dpd);
  p->bd_scratch = dpd.scratchpad_desc();
  p->bd_dsrc = dpd.diff_src_desc();
  p->bd_wei.init(wei_plain, dpd.weights_desc());
  p->bd_ddst.init(p->dst, dpd.diff_dst_desc());
  p->bd_dsrc_out.init(dpd.diff_src_desc(), src_plain);
  return p;
}

std::shared_ptr<const Prims> prims_for(const Key& key) {
  static std::mutex mutex;
  static std::unordered_map<Key, std::shared_ptr<const Prims>, KeyHash> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  if (cache.size() >= 256) cache.clear();  // shapes vary (last batches): bound it
  return cache.emplace(key, make_prims(key)).first->second;
}

// Executes `prim` with `args` plus a scratchpad of `scratch`'s size.
void execute(const dnnl::primitive& prim, const memory::desc& scratch,
             std::unordered_map<int, memory> args) {
  torch::Tensor pad;
  if (scratch.get_size() > 0) {
    pad = buffer_for(scratch);
    args.emplace(DNNL_ARG_SCRATCHPAD, memory(scratch, engine(), pad.data_ptr()));
  }
  dnnl::stream& stream = cpu_stream();
  prim.execute(stream, args);
  stream.wait();
}

// Channels-last and not also plain contiguous (as a one-channel map is).
bool channels_last(const torch::Tensor& x) {
  return !x.is_contiguous() && x.is_contiguous(torch::MemoryFormat::ChannelsLast);
}

// One operand of a primitive: its argument and the conversion of `data` into what it reads.
struct Operand {
  int arg;
  const Convert& convert;
  void* data;
};

// Runs `prim` on two operands into a fresh buffer of `out` (argument `out_arg`).
torch::Tensor run_primitive(const dnnl::primitive& prim, const memory::desc& scratch,
                            const Operand& a, const Operand& b, int out_arg,
                            const memory::desc& out) {
  dnnl::stream& stream = cpu_stream();
  torch::Tensor a_buf, b_buf;
  void* pa = a.convert.run(stream, a.data, a_buf);
  void* pb = b.convert.run(stream, b.data, b_buf);
  stream.wait();
  auto result = buffer_for(out);
  execute(prim, scratch,
          {{a.arg, memory(a.convert.to, engine(), pa)},
           {b.arg, memory(b.convert.to, engine(), pb)},
           {out_arg, memory(out, engine(), result.data_ptr())}});
  return result;
}

Key key_of(const torch::Tensor& x, const torch::Tensor& weight, int64_t pad) {
  return {x.size(0),      x.size(1),      x.size(2), x.size(3),
          weight.size(0), weight.size(2), pad,       channels_last(x)};
}

// An uninitialised [N, C, H, W] tensor laid out channels-last.
torch::Tensor empty_channels_last(int64_t n, int64_t c, int64_t h, int64_t w) {
  return torch::empty({n, h, w, c}).permute({0, 3, 1, 2});
}

// A first layer of one plain input channel, run by single_channel_conv.h's kernels.
bool single_channel(const Key& key, const BlockedMap& s) {
  return key.ic == 1 && !key.nhwc_src && single_channel_kernels() &&
         single_channel_kernel_applies(s, key.k);
}

class ConvBnReluPool : public torch::autograd::Function<ConvBnReluPool> {
 public:
  // x [N, IC, H, W], weight [OC, IC, k, k], gamma / beta [OC] -> [N, OC, H'/2, W'/2]
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, const torch::Tensor& gamma,
                               const torch::Tensor& beta, int64_t pad,
                               torch::nn::BatchNorm2dImpl* bn) {
    const Key key = key_of(x, weight, pad);
    const auto prims = prims_for(key);
    const Prims& p = *prims;
    auto wei = weight.contiguous();
    const BlockedMap s{key.n, key.oc, p.oh, p.ow, p.block};
    torch::Tensor dst;
    if (single_channel(key, s)) {  // oneDNN is slow for one input channel (single_channel_conv.h)
      dst = buffer_for(p.dst);
      single_channel_conv_forward(x.data_ptr<float>(), wei.data_ptr<float>(), nullptr, s, key.k,
                                  key.pad, false, dst.data_ptr<float>());
    } else {
      dst = run_primitive(p.fwd, p.fwd_scratch, {DNNL_ARG_SRC, p.fwd_src, x.data_ptr()},
                          {DNNL_ARG_WEIGHTS, p.fwd_wei, wei.data_ptr()}, DNNL_ARG_DST, p.dst);
    }
    BlockedBnSaved saved;
    auto out = blocked_bn_relu_max_pool2(dst, s, gamma, beta, *bn, saved);
    ctx->save_for_backward({x, weight, gamma, saved.mean, saved.invstd, dst, saved.code});
    ctx->saved_data["pad"] = pad;
    g_runs.fetch_add(1, std::memory_order_relaxed);
    return out;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads);
};

torch::autograd::tensor_list ConvBnReluPool::backward(torch::autograd::AutogradContext* ctx,
                                                      torch::autograd::tensor_list grads) {
  auto saved = ctx->get_saved_variables();
  const torch::Tensor &x = saved[0], &weight = saved[1], &gamma = saved[2], &mean_t = saved[3],
                      &invstd_t = saved[4], &dst = saved[5], &code = saved[6];
  const Key key = key_of(x, weight, ctx->saved_data["pad"].toInt());
  const auto prims = prims_for(key);
  const Prims& p = *prims;
  const BlockedMap s{key.n, key.oc, p.oh, p.ow, p.block};
  auto [ddst, dgamma, dbeta] = blocked_bn_relu_max_pool2_backward(
      dst, s, grads[0], gamma, BlockedBnSaved{mean_t, invstd_t, code});

  dnnl::stream& stream = cpu_stream();
  torch::Tensor dweight;
  if (single_channel(key, s)) {
    dweight = single_channel_conv_backward_weights(x, ddst.data_ptr<float>(), s, key.k, key.pad);
  } else {
    auto dwei = run_primitive(p.bwd_w, p.bw_scratch, {DNNL_ARG_SRC, p.bw_src, x.data_ptr()},
                              {DNNL_ARG_DIFF_DST, p.bw_ddst, ddst.data_ptr()},
                              DNNL_ARG_DIFF_WEIGHTS, p.bw_dwei);
    dweight = torch::empty_like(weight, torch::MemoryFormat::Contiguous);
    p.bw_dwei_out.copy_into(stream, dwei.data_ptr(), dweight.data_ptr(), dweight.nbytes());
  }

  torch::Tensor dx;
  if (ctx->needs_input_grad(0)) {
    auto wei = weight.contiguous();
    auto dsrc =
        run_primitive(p.bwd_d, p.bd_scratch, {DNNL_ARG_DIFF_DST, p.bd_ddst, ddst.data_ptr()},
                      {DNNL_ARG_WEIGHTS, p.bd_wei, wei.data_ptr()}, DNNL_ARG_DIFF_SRC, p.bd_dsrc);
    dx = key.nhwc_src ? empty_channels_last(key.n, key.ic, key.h, key.w)
                      : torch::empty({key.n, key.ic, key.h, key.w});
    p.bd_dsrc_out.copy_into(stream, dsrc.data_ptr(), dx.data_ptr(), dx.nbytes());
  }
  return {dx, dweight, dgamma, dbeta, torch::Tensor(), torch::Tensor()};
}

// The symmetric zero padding of a square-kernel, stride-1 convolution without bias, groups or
// dilation; -1 when the convolution is anything else.
int64_t plain_padding(const torch::nn::Conv2dImpl& conv) {
  const auto& o = conv.options;
  if (o.bias() || o.groups() != 1 || o.transposed()) return -1;
  if (!c10::get_if<torch::enumtype::kZeros>(&o.padding_mode())) return -1;
  if ((*o.stride())[0] != 1 || (*o.stride())[1] != 1) return -1;
  if ((*o.dilation())[0] != 1 || (*o.dilation())[1] != 1) return -1;
  if ((*o.kernel_size())[0] != (*o.kernel_size())[1]) return -1;
  const auto* pad = c10::get_if<torch::ExpandingArray<2>>(&o.padding());
  if (pad == nullptr || (**pad)[0] != (**pad)[1]) return -1;
  return (**pad)[0];
}

}  // namespace

bool conv_block_applies(const torch::Tensor& x, const torch::nn::Conv2dImpl& conv) {
  if (!g_on.load() || !fused_blocks() || x.dim() != 4 || !x.device().is_cpu() ||
      x.scalar_type() != torch::kFloat32 || x.numel() == 0 || !conv.weight.defined() ||
      conv.weight.scalar_type() != torch::kFloat32 || x.size(1) != conv.weight.size(1)) {
    return false;
  }
  const int64_t pad = plain_padding(conv);
  if (pad < 0) return false;
  const int64_t k = conv.weight.size(2);
  if (x.size(2) + 2 * pad - k + 1 < 2 || x.size(3) + 2 * pad - k + 1 < 2) return false;
  return prims_for(key_of(x, conv.weight, pad))->block != 0;
}

torch::Tensor conv_bn_relu_max_pool2(const torch::Tensor& input, torch::nn::Conv2dImpl& conv,
                                     torch::nn::BatchNorm2dImpl& bn) {
  TORCH_CHECK(conv_block_applies(input, conv),
              "conv_bn_relu_max_pool2 cannot run this block (input ", input.sizes(), " ",
              input.dtype(), "); check conv_block_applies first and run the modules instead");
  TORCH_CHECK(conv.weight.size(0) == bn.options.num_features(), "conv_bn_relu_max_pool2: the ",
              "convolution has ", conv.weight.size(0), " output channels, the batch norm ",
              bn.options.num_features());
  const int64_t c = conv.weight.size(0);
  auto gamma = bn.weight.defined() ? bn.weight : torch::ones({c});
  auto beta = bn.bias.defined() ? bn.bias : torch::zeros({c});
  auto x = channels_last(input) ? input : input.contiguous();
  return ConvBnReluPool::apply(x, conv.weight, gamma, beta, plain_padding(conv), &bn);
}

void set_conv_blocks(bool on) {
  g_on.store(on);
}
bool conv_blocks() {
  return g_on.load();
}

int64_t conv_blocks_run() {
  return g_runs.load(std::memory_order_relaxed);
}

}  // namespace mmfuse::encoders
