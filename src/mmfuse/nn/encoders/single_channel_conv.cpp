#include "mmfuse/nn/encoders/single_channel_conv.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cstring>

namespace mmfuse::encoders {

namespace {

std::atomic<bool> g_on{true};

// The CPU's best loop, asked once (the kernels run every training step and plan call).
SingleChannelLoop best_loop() {
  static const SingleChannelLoop best = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")
               ? SingleChannelLoop::avx2
               : SingleChannelLoop::plain;
  }();
  return best;
}

// What one image's weight gradient is made from: the padded input of one image, its output
// gradient, the sides, and where its partial sums go.
struct ImageTask {
  const float* xpad;  // [PH, PW], the input with `pad` zeros around
  const float* ddst;  // the image's planes: [blocks, OH, OW, B]
  int64_t blocks, oh, ow, pw;
  float* partial;  // [blocks, k, k, B], overwritten
};

// One image: for every output row and kernel row, k accumulators of B lanes (one per kernel
// column) take a fused multiply-add per output pixel: its B channels' gradient times the input
// value under that kernel tap.
template <int B, int K>
__attribute__((always_inline)) inline void image_weight_gradient(const ImageTask& t) {
  // (a `using` alias would drop the attribute in a template: a typedef keeps it)
  typedef float V __attribute__((vector_size(B * sizeof(float))));
  static_assert(sizeof(V) == B * sizeof(float), "one vector per pixel's channel block");
  for (int64_t cb = 0; cb < t.blocks; ++cb) {
    V acc[K * K];
    for (auto& a : acc) a = V{};
    const float* d = t.ddst + cb * t.oh * t.ow * B;
    for (int64_t y = 0; y < t.oh; ++y) {
      const float* drow = d + y * t.ow * B;
      for (int i = 0; i < K; ++i) {
        const float* xr = t.xpad + (y + i) * t.pw;
        V r[K];
        for (int j = 0; j < K; ++j) r[j] = acc[i * K + j];
        for (int64_t x = 0; x < t.ow; ++x) {
          V g;
          std::memcpy(&g, drow + x * B, sizeof(V));
          for (int j = 0; j < K; ++j) r[j] += g * xr[x + j];
        }
        for (int j = 0; j < K; ++j) acc[i * K + j] = r[j];
      }
    }
    std::memcpy(t.partial + cb * K * K * B, acc, sizeof(acc));
  }
}

// The weight gradient's loops (Op::Task, Op::plain<B, K>, Op::avx2<B, K>: see Pick).
struct WeightGradient {
  using Task = ImageTask;
  template <int B, int K>
  static void plain(const ImageTask& t) {
    image_weight_gradient<B, K>(t);
  }
  template <int B, int K>
  __attribute__((target("avx2,fma"))) static void avx2(const ImageTask& t) {
    image_weight_gradient<B, K>(t);
  }
};

// Output rows y0..y1 of one image's forward: for every row, pixels in fours, each pixel's B
// channels one accumulator taking k * k fused multiply-adds (a weight vector times a broadcast
// input value).
struct ForwardTask {
  const float* xpad;  // [y1 - y0 + k - 1, PW]: the padded input's rows from y0 on
  const float* wv;    // [blocks, k, k, B] weights, zero past OC
  const float* bias;  // [blocks, B], zero past OC
  int64_t blocks, oh, ow, pw, y0, y1;
  bool relu;
  float* out;  // the image's planes [blocks, OH, OW, B]
};

template <int B, int K>
__attribute__((always_inline)) inline void image_forward(const ForwardTask& t) {
  typedef float V __attribute__((vector_size(B * sizeof(float))));
  constexpr int P = 4;  // pixels per step: P accumulators and a weight vector in registers
  for (int64_t cb = 0; cb < t.blocks; ++cb) {
    V w[K * K], b;
    std::memcpy(w, t.wv + cb * K * K * B, sizeof(w));
    std::memcpy(&b, t.bias + cb * B, sizeof(V));
    const V zero{};
    auto finish = [&](V a, float* dst) {
      if (t.relu) a = a < zero ? zero : a;  // NaN stays NaN, as oneDNN's ReLU
      std::memcpy(dst, &a, sizeof(V));
    };
    for (int64_t y = t.y0; y < t.y1; ++y) {
      float* orow = t.out + (cb * t.oh + y) * t.ow * B;
      int64_t x = 0;
      for (; x + P <= t.ow; x += P) {
        V a[P];
        for (int q = 0; q < P; ++q) a[q] = b;
        for (int i = 0; i < K; ++i) {
          const float* xr = t.xpad + (y - t.y0 + i) * t.pw + x;
          for (int j = 0; j < K; ++j) {
            for (int q = 0; q < P; ++q) a[q] += w[i * K + j] * xr[j + q];
          }
        }
        for (int q = 0; q < P; ++q) finish(a[q], orow + (x + q) * B);
      }
      for (; x < t.ow; ++x) {
        V a = b;
        for (int i = 0; i < K; ++i) {
          const float* xr = t.xpad + (y - t.y0 + i) * t.pw + x;
          for (int j = 0; j < K; ++j) a += w[i * K + j] * xr[j];
        }
        finish(a, orow + x * B);
      }
    }
  }
}

// The forward's loops.
struct Forward {
  using Task = ForwardTask;
  template <int B, int K>
  static void plain(const ForwardTask& t) {
    image_forward<B, K>(t);
  }
  template <int B, int K>
  __attribute__((target("avx2,fma"))) static void avx2(const ForwardTask& t) {
    image_forward<B, K>(t);
  }
};

// Op's loop for `block` lanes, a k x k kernel and `loop`; nullptr where none is compiled.
template <class Op>
struct Pick {
  using Fn = void (*)(const typename Op::Task&);
  template <int B>
  static Fn side(int64_t k, bool avx2) {
    switch (k) {
      case 3:
        return avx2 ? Op::template avx2<B, 3> : Op::template plain<B, 3>;
      case 5:
        return avx2 ? Op::template avx2<B, 5> : Op::template plain<B, 5>;
      case 7:
        return avx2 ? Op::template avx2<B, 7> : Op::template plain<B, 7>;
      default:
        return nullptr;
    }
  }
  static Fn of(int64_t block, int64_t k, SingleChannelLoop loop) {
    const bool avx2 = loop == SingleChannelLoop::avx2;
    if (block == 8) return side<8>(k, avx2);
    if (block == 16) return side<16>(k, avx2);
    return nullptr;
  }
};

// Rows r0..r1 of x's image `n` padded with `pad` zeros around ([H + 2 pad, W + 2 pad]) into
// `xpad` ([r1 - r0, W + 2 pad]).
void pad_rows(const float* x, int64_t n, int64_t h, int64_t w, int64_t pad, int64_t r0, int64_t r1,
              float* xpad) {
  const int64_t pw = w + 2 * pad;
  std::fill(xpad, xpad + (r1 - r0) * pw, 0.0f);
  for (int64_t r = std::max(r0, pad); r < std::min(r1, h + pad); ++r) {
    std::memcpy(xpad + (r - r0) * pw + pad, x + (n * h + r - pad) * w, w * sizeof(float));
  }
}
void pad_image(const float* x, int64_t n, int64_t h, int64_t w, int64_t pad, float* xpad) {
  pad_rows(x, n, h, w, pad, 0, h + 2 * pad, xpad);
}

}  // namespace

std::vector<SingleChannelLoop> single_channel_loops() {
  if (best_loop() == SingleChannelLoop::avx2) {
    return {SingleChannelLoop::avx2, SingleChannelLoop::plain};
  }
  return {SingleChannelLoop::plain};
}

SingleChannelLoop best_single_channel_loop() {
  return best_loop();
}

bool single_channel_kernel_applies(const BlockedMap& ddst, int64_t k) {
  return (ddst.block == 8 || ddst.block == 16) && (k == 3 || k == 5 || k == 7);
}

torch::Tensor single_channel_conv_backward_weights(const torch::Tensor& x, const float* ddst,
                                                   const BlockedMap& s, int64_t k, int64_t pad) {
  return single_channel_conv_backward_weights(x, ddst, s, k, pad, best_loop());
}

torch::Tensor single_channel_conv_backward_weights(const torch::Tensor& x, const float* ddst,
                                                   const BlockedMap& s, int64_t k, int64_t pad,
                                                   SingleChannelLoop loop) {
  TORCH_CHECK(single_channel_kernel_applies(s, k),
              "single_channel_conv_backward_weights: ", s.block, "-lane blocks and a ", k, "x", k,
              " kernel are not handled; check ", "single_channel_kernel_applies first");
  TORCH_CHECK(x.dim() == 4 && x.size(0) == s.n && x.size(1) == 1 && x.is_contiguous() &&
                  x.scalar_type() == torch::kFloat32,
              "single_channel_conv_backward_weights: x must be a contiguous float32 [", s.n,
              ", 1, H, W] tensor, got ", x.sizes(), " ", x.dtype());
  const int64_t h = x.size(2), w = x.size(3), ph = h + 2 * pad, pw = w + 2 * pad;
  TORCH_CHECK(s.h == ph - k + 1 && s.w == pw - k + 1, "single_channel_conv_backward_weights: an ",
              "output gradient of ", s.h, "x", s.w, " does not match a ", h, "x", w, " input, a ",
              k, "x", k, " kernel and padding ", pad);
  const auto fn = Pick<WeightGradient>::of(s.block, k, loop);
  const int64_t per_image = s.blocks() * k * k * s.block;
  std::vector<float> partial(static_cast<std::size_t>(s.n * per_image));
  const float* xs = x.data_ptr<float>();
  at::parallel_for(0, s.n, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> xpad(static_cast<std::size_t>(ph * pw));
    for (int64_t n = begin; n < end; ++n) {
      pad_image(xs, n, h, w, pad, xpad.data());
      fn({xpad.data(), ddst + n * s.blocks() * s.plane(), s.blocks(), s.h, s.w, pw,
          partial.data() + n * per_image});
    }
  });
  // [blocks, k, k, B] per image, summed over the images in order -> [OC, 1, k, k].
  std::vector<double> sum(static_cast<std::size_t>(per_image), 0.0);
  for (int64_t n = 0; n < s.n; ++n) {
    const float* p = partial.data() + n * per_image;
    for (int64_t i = 0; i < per_image; ++i) sum[i] += p[i];
  }
  auto dweight = torch::empty({s.c, 1, k, k});
  float* out = dweight.data_ptr<float>();
  for (int64_t oc = 0; oc < s.c; ++oc) {
    const int64_t cb = oc / s.block, lane = oc % s.block;
    for (int64_t t = 0; t < k * k; ++t) {
      out[oc * k * k + t] = static_cast<float>(sum[(cb * k * k + t) * s.block + lane]);
    }
  }
  return dweight;
}

void single_channel_conv_forward(const float* x, const float* weight, const float* bias,
                                 const BlockedMap& s, int64_t k, int64_t pad, bool relu, float* out,
                                 SingleChannelLoop loop) {
  TORCH_CHECK(single_channel_kernel_applies(s, k), "single_channel_conv_forward: ", s.block,
              "-lane blocks and a ", k, "x", k, " kernel are not handled; check ",
              "single_channel_kernel_applies first");
  const int64_t h = s.h + k - 1 - 2 * pad, w = s.w + k - 1 - 2 * pad;
  TORCH_CHECK(h > 0 && w > 0, "single_channel_conv_forward: a ", s.h, "x", s.w, " output ",
              "does not follow from a ", k, "x", k, " kernel and padding ", pad);
  const int64_t pw = w + 2 * pad, ph = h + 2 * pad, block = s.block;
  // Weights and bias as vectors of a block's lanes, zero past OC (so are the padding lanes).
  std::vector<float> wv(static_cast<std::size_t>(s.blocks() * k * k * block), 0.0f);
  std::vector<float> bv(static_cast<std::size_t>(s.blocks() * block), 0.0f);
  for (int64_t oc = 0; oc < s.c; ++oc) {
    const int64_t cb = oc / block, lane = oc % block;
    for (int64_t t = 0; t < k * k; ++t)
      wv[(cb * k * k + t) * block + lane] = weight[oc * k * k + t];
    if (bias != nullptr) bv[cb * block + lane] = bias[oc];
  }
  const auto fn = Pick<Forward>::of(block, k, loop);
  // Fewer images than threads (batch 1): each image's rows in parts, one a thread.
  const int64_t threads = at::in_parallel_region() ? 1 : at::get_num_threads();
  const int64_t parts = s.n >= threads ? 1 : std::min(s.h, (threads + s.n - 1) / s.n);
  at::parallel_for(0, s.n * parts, 1, [&](int64_t begin, int64_t end) {
    std::vector<float> xpad(static_cast<std::size_t>(ph * pw));
    for (int64_t task = begin; task < end; ++task) {
      const int64_t n = task / parts, part = task % parts;
      const int64_t y0 = part * s.h / parts, y1 = (part + 1) * s.h / parts;
      pad_rows(x, n, h, w, pad, y0, y1 + k - 1, xpad.data());
      fn({xpad.data(), wv.data(), bv.data(), s.blocks(), s.h, s.w, pw, y0, y1, relu,
          out + n * s.blocks() * s.plane()});
    }
  });
}

void single_channel_conv_forward(const float* x, const float* weight, const float* bias,
                                 const BlockedMap& s, int64_t k, int64_t pad, bool relu,
                                 float* out) {
  single_channel_conv_forward(x, weight, bias, s, k, pad, relu, out, best_loop());
}

void set_single_channel_kernels(bool on) {
  g_on.store(on);
}
bool single_channel_kernels() {
  return g_on.load();
}

}  // namespace mmfuse::encoders
