// Plan compiler of the `lenet` encoder (nn/encoders/lenet.h): per block one oneDNN convolution
// with BatchNorm folded into its weights and bias and ReLU as a post-op, then a 2x2 max-pooling
// in the layout the convolution chose (format_tag::any: nChw8c on AVX2), so the map stays
// blocked from the encoder's entry to its exit: one reorder in (when the first convolution
// wants another layout than NCHW) and one out. ReLU before the pooling equals the module path's
// pooling before ReLU exactly (max and ReLU commute). On nChw8c maps the pooling is plan_pool.h's
// loop, not oneDNN's primitive (see there why). A batch runs in pieces small enough for their maps
// to stay in cache (kLenetChunkBytes), sized in powers of two (plan_pieces), spread over the
// intra-op threads.
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <string>

#include <ATen/Parallel.h>

#include "mmfuse/core/error.h"
#include "mmfuse/nn/encoders/lenet.h"
#include "mmfuse/nn/encoders/single_channel_conv.h"
#include "mmfuse/runtime/plan_compilers.h"
#include "mmfuse/runtime/plan_dnnl.h"
#include "mmfuse/runtime/plan_lenet.h"
#include "mmfuse/runtime/plan_pool.h"

namespace mmfuse::runtime {

namespace {

using dnnl::memory;
using LenetTag = memory::format_tag;
constexpr auto kLenetF32 = memory::data_type::f32;
// Cache budget of one program run's largest activation map (see LenetPlan's constructor).
constexpr int64_t kLenetChunkBytes = int64_t{1} << 20;

class LenetPlan : public CompiledEncoder {
 public:
  LenetPlan(std::shared_ptr<encoders::LeNetImpl> lenet, int64_t value_bytes,
            DnnlProgramCache::Build build)
      : lenet_(std::move(lenet)), programs_(std::move(build)) {
    // Samples per program run: a chunk's largest map (channels padded to oneDNN's blocks of 8)
    // stays within kLenetChunkBytes, so a batch streams through the layers in cache instead of
    // every layer sweeping the whole batch's maps through memory.
    const auto& o = lenet_->options;
    int64_t h = o.input_hw()[0], w = o.input_hw()[1], largest = o.in_channels() * h * w;
    for (int64_t i = 0; i <= o.extra_blocks(); ++i) {
      largest = std::max(largest, (o.width(i) + 7) / 8 * 8 * h * w);
      h /= 2;
      w /= 2;
    }
    chunk_ = std::max<int64_t>(1, kLenetChunkBytes / (largest * value_bytes));
  }

  nn::Encoded encode(const data::ModalityBatch& input) const override {
    const torch::Tensor& x = input.data;
    const auto& o = lenet_->options;
    if (x.dim() != 4 || x.size(0) == 0 || !x.device().is_cpu() ||
        x.scalar_type() != torch::kFloat) {
      return lenet_->encode(input);  // the module's own checks and paths
    }
    TORCH_CHECK(x.size(1) == o.in_channels() && x.size(2) == o.input_hw()[0] &&
                    x.size(3) == o.input_hw()[1],
                "lenet expected images [B, ", o.in_channels(), ", ", o.input_hw()[0], ", ",
                o.input_hw()[1], "], got ", x.sizes(),
                "; the encoder was built for the pipeline's image size");
    const torch::Tensor src = x.contiguous();
    const int64_t batch = x.size(0);
    // Powers of two (few programs), at most an eighth of the batch per thread, so that the
    // threads' shares differ by at most one small piece (40 images on 2 threads: pieces of 4, 20
    // and 20; the cache budget alone gave 32 and 8: 0.48 ms, pieces of 8 24 and 16: 0.37 ms,
    // pieces of 4: 0.33 ms).
    const int64_t threads = at::get_num_threads();
    const int64_t share = std::max<int64_t>(1, (batch + 4 * threads - 1) / (4 * threads));
    const auto pieces = plan_pieces(batch, threads > 1 ? std::min(chunk_, share) : chunk_);
    const int64_t levels = o.extra_blocks() + 1;
    torch::Tensor map = torch::empty({batch, o.width(o.extra_blocks()),  // widths may vary
                                      o.input_hw()[0] >> levels, o.input_hw()[1] >> levels});
    const int64_t in_step = src[0].numel(), out_step = map[0].numel();
    // Chunks in parallel over LibTorch's intra-op threads, each running its primitives on one
    // thread (oneDNN does not nest OpenMP): one fork per forward instead of one per primitive.
    // A single chunk (batch 1) runs on the calling thread with oneDNN's own threads.
    const float* in = src.data_ptr<float>();
    float* dst = map.data_ptr<float>();
    at::parallel_for(0, static_cast<int64_t>(pieces.size()), 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {  // [B, C', H', W'], one piece of samples a time
        const auto [b0, n] = pieces[static_cast<std::size_t>(c)];
        programs_.get(n).run(in + b0 * in_step, dst + b0 * out_step);
      }
    });
    nn::Encoded out;
    out.pooled = map.flatten(1);
    out.tokens = map.flatten(2).transpose(1, 2);
    out.present = input.present;
    return out;
  }

  int64_t compiled_shapes() const override { return programs_.size(); }
  std::vector<std::string> implementations() const override { return programs_.implementations(); }

 private:
  std::shared_ptr<encoders::LeNetImpl> lenet_;
  DnnlProgramCache programs_;
  int64_t chunk_ = 1;
};

// The lanes of a blocked convolution output (8 or 16), or 0 for another layout.
int64_t blocked_lanes(const memory::desc& md, const memory::dims& dims) {
  if (md == memory::desc(dims, kLenetF32, LenetTag::nChw8c)) return 8;
  if (md == memory::desc(dims, kLenetF32, LenetTag::nChw16c)) return 16;
  return 0;
}

// MaxPool2 of the convolution output in `slot` (laid out as `conv_md`, [N, C, H, W] = conv_dims)
// into a new buffer `pooled` [N, C, H / 2, W / 2]; `slot` becomes that buffer. Returns its desc.
memory::desc add_lenet_pool(DnnlProgram& p, const memory::desc& conv_md,
                            const memory::dims& conv_dims, const memory::dims& pooled, int& slot) {
  if (conv_md == memory::desc(conv_dims, kLenetF32, LenetTag::nChw8c)) {
    const memory::desc md(pooled, kLenetF32, LenetTag::nChw8c);  // plan_pool.h: why not oneDNN's
    const int pool_out = p.add_buffer(md);
    const int64_t blocks = conv_dims[0] * ((conv_dims[1] + 7) / 8), h = conv_dims[2],
                  w = conv_dims[3];
    p.add_host_step(
         [blocks, h, w](const memory& src, const memory& dst) {
           max_pool2x2_nchw8c(static_cast<const float*>(src.get_data_handle()),
                              static_cast<float*>(dst.get_data_handle()), blocks, h, w);
         },
         "mmfuse:max_pool_2x2:nChw8c")
        .slots = {{DNNL_ARG_SRC, slot}, {DNNL_ARG_DST, pool_out}};
    slot = pool_out;
    return md;
  }
  dnnl::pooling_forward::desc pdsc(
      dnnl::prop_kind::forward_inference, dnnl::algorithm::pooling_max, conv_md,
      memory::desc(pooled, kLenetF32, LenetTag::any), {2, 2}, {2, 2}, {0, 0},
      {0, 0});  // an odd row or column is left out, as MaxPool2d's floor
  dnnl::pooling_forward::primitive_desc pool(pdsc, plan_attr(), plan_engine());
  const int pool_out = p.add_buffer(pool.dst_desc());
  p.add_step(dnnl::pooling_forward(pool), pool).slots = {{DNNL_ARG_SRC, slot},
                                                         {DNNL_ARG_DST, pool_out}};
  slot = pool_out;
  return pool.dst_desc();
}

// The float32 program of `stages` for `batch` images of `o`'s size.
std::unique_ptr<DnnlProgram> build_lenet_program(const encoders::LeNetOptions& o,
                                                 const std::vector<LenetStage>& stages,
                                                 int64_t batch) {
  auto p = std::make_unique<DnnlProgram>();
  memory::dims cur = {batch, o.in_channels(), o.input_hw()[0], o.input_hw()[1]};
  p->input = memory::desc(cur, kLenetF32, LenetTag::nchw);
  memory::desc cur_md = p->input;
  int cur_slot = kPlanInput;
  for (std::size_t i = 0; i < stages.size(); ++i) {
    const LenetStage& s = stages[i];
    const int64_t out_c = s.weight.size(0), in_c = s.weight.size(1), pad = s.kernel / 2;
    const memory::dims wdims = {out_c, in_c, s.kernel, s.kernel};
    const memory::dims conv_dims = {batch, out_c, cur[2], cur[3]};  // stride 1, same padding
    const memory::desc bias_md({out_c}, kLenetF32, LenetTag::x);
    dnnl::convolution_forward::desc cd(
        dnnl::prop_kind::forward_inference, dnnl::algorithm::convolution_direct,
        memory::desc(cur, kLenetF32, LenetTag::any), memory::desc(wdims, kLenetF32, LenetTag::any),
        bias_md, memory::desc(conv_dims, kLenetF32, LenetTag::any), {1, 1}, {pad, pad}, {pad, pad});
    dnnl::post_ops relu;
    relu.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
    dnnl::primitive_attr attr = plan_attr();
    attr.set_post_ops(relu);
    dnnl::convolution_forward::primitive_desc conv(cd, attr, plan_engine());
    const int64_t block = blocked_lanes(conv.dst_desc(), conv_dims);
    const encoders::BlockedMap map{batch, out_c, conv_dims[2], conv_dims[3], block};
    // A 3-channel first layer in 16 lanes (AVX-512) keeps oneDNN's kernel, as in training.
    if (i == 0 && in_c == 1 && encoders::single_channel_kernels() && block > 0 &&
        !map.mostly_padding() && encoders::single_channel_kernel_applies(map, s.kernel)) {
      // oneDNN is slow for one input channel (single_channel_conv.h): the plain input in,
      // BatchNorm's folded bias and ReLU applied, the blocked map out.
      const int conv_out = p->add_buffer(conv.dst_desc());
      p->add_host_step(
           [map, s, pad](const memory& src, const memory& dst) {
             encoders::single_channel_conv_forward(
                 static_cast<const float*>(src.get_data_handle()), s.weight.data_ptr<float>(),
                 s.bias.data_ptr<float>(), map, s.kernel, pad, true,
                 static_cast<float*>(dst.get_data_handle()));
           },
           "mmfuse:single_channel_conv_relu:" + std::to_string(block) + "c")
          .slots = {{DNNL_ARG_SRC, cur_slot}, {DNNL_ARG_DST, conv_out}};
      cur_slot = conv_out;
      cur = {batch, out_c, conv_dims[2] / 2, conv_dims[3] / 2};
      cur_md = add_lenet_pool(*p, conv.dst_desc(), conv_dims, cur, cur_slot);
      continue;
    }
    if (conv.src_desc() != cur_md) {  // the entry (or a layout change oneDNN asks for)
      dnnl::reorder::primitive_desc r(plan_engine(), cur_md, plan_engine(), conv.src_desc(),
                                      plan_attr());
      const int to = p->add_buffer(conv.src_desc());
      p->add_step(dnnl::reorder(r), r).slots = {{DNNL_ARG_FROM, cur_slot}, {DNNL_ARG_TO, to}};
      cur_slot = to;
    }
    const int conv_out = p->add_buffer(conv.dst_desc());
    DnnlStep& cs = p->add_step(dnnl::convolution_forward(conv), conv);
    cs.slots = {{DNNL_ARG_SRC, cur_slot}, {DNNL_ARG_DST, conv_out}};
    cs.constants = {
        {DNNL_ARG_WEIGHTS, plan_constant(s.weight, memory::desc(wdims, kLenetF32, LenetTag::oihw),
                                         conv.weights_desc())},
        {DNNL_ARG_BIAS, plan_constant(s.bias, bias_md, conv.bias_desc())}};
    cur = {batch, out_c, conv_dims[2] / 2, conv_dims[3] / 2};  // MaxPool2: floor
    cur_slot = conv_out;
    cur_md = add_lenet_pool(*p, conv.dst_desc(), conv_dims, cur, cur_slot);
  }
  p->output = memory::desc(cur, kLenetF32, LenetTag::nchw);  // the exit
  dnnl::reorder::primitive_desc r(plan_engine(), cur_md, plan_engine(), p->output, plan_attr());
  p->add_step(dnnl::reorder(r), r).slots = {{DNNL_ARG_FROM, cur_slot}, {DNNL_ARG_TO, kPlanOutput}};
  return p;
}

}  // namespace

LenetStage fold_lenet_stage(torch::nn::Conv2dImpl& conv, torch::nn::BatchNorm2dImpl& bn) {
  torch::NoGradGuard no_grad;
  LenetStage s;
  auto scale = bn.weight / torch::sqrt(bn.running_var + bn.options.eps());
  auto shift = conv.bias.defined() ? conv.bias - bn.running_mean : -bn.running_mean;
  s.weight = (conv.weight * scale.reshape({-1, 1, 1, 1})).contiguous().clone();
  s.bias = (bn.bias + shift * scale).contiguous().clone();
  s.kernel = conv.weight.size(2);
  return s;
}

std::vector<std::pair<torch::nn::Conv2dImpl*, torch::nn::BatchNorm2dImpl*>> lenet_conv_bn(
    encoders::LeNetImpl& lenet) {
  std::shared_ptr<torch::nn::SequentialImpl> net;
  for (const auto& child : lenet.named_children()) {
    if (child.key() == "net") {
      net = std::dynamic_pointer_cast<torch::nn::SequentialImpl>(child.value());
    }
  }
  if (!net || net->size() % 4 != 0) return {};
  std::vector<std::pair<torch::nn::Conv2dImpl*, torch::nn::BatchNorm2dImpl*>> out;
  for (std::size_t i = 0; i < net->size(); i += 4) {
    auto* conv = net->ptr(i)->as<torch::nn::Conv2d>();
    auto* bn = net->ptr(i + 1)->as<torch::nn::BatchNorm2d>();
    if (!conv || !bn) return {};
    out.emplace_back(conv, bn);
  }
  return out;
}

std::unique_ptr<CompiledEncoder> make_lenet_plan(std::shared_ptr<encoders::LeNetImpl> lenet,
                                                 int64_t value_bytes,
                                                 DnnlProgramCache::Build build) {
  return std::make_unique<LenetPlan>(std::move(lenet), value_bytes, std::move(build));
}

std::unique_ptr<CompiledEncoder> compile_lenet_plan(const encoders::EncoderBlock& block) {
  auto lenet = std::dynamic_pointer_cast<encoders::LeNetImpl>(block.module());
  if (!lenet) return nullptr;
  const auto layers = lenet_conv_bn(*lenet);
  if (layers.empty()) return nullptr;
  std::vector<LenetStage> stages;
  for (const auto& [conv, bn] : layers) {
    if (!bn->options.track_running_stats() || conv->weight.scalar_type() != torch::kFloat ||
        !conv->weight.device().is_cpu()) {
      return nullptr;
    }
    stages.push_back(fold_lenet_stage(*conv, *bn));
  }
  const encoders::LeNetOptions options = lenet->options;
  return make_lenet_plan(std::move(lenet), sizeof(float),
                         [options, stages = std::move(stages)](int64_t batch) {
                           return build_lenet_program(options, stages, batch);
                         });
}

}  // namespace mmfuse::runtime
