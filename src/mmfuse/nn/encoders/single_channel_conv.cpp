#include "mmfuse/nn/encoders/single_channel_conv.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cstring>

namespace mmfuse::encoders {

namespace {

std::atomic<bool> g_on{true};

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

template <int B, int K>
void image_plain(const ImageTask& t) {
  image_weight_gradient<B, K>(t);
}
template <int B, int K>
__attribute__((target("avx2,fma"))) void image_avx2(const ImageTask& t) {
  image_weight_gradient<B, K>(t);
}

using ImageFn = void (*)(const ImageTask&);

template <int B>
ImageFn pick_k(int64_t k, SingleChannelLoop loop) {
  const bool avx2 = loop == SingleChannelLoop::avx2;
  switch (k) {
    case 3:
      return avx2 ? image_avx2<B, 3> : image_plain<B, 3>;
    case 5:
      return avx2 ? image_avx2<B, 5> : image_plain<B, 5>;
    case 7:
      return avx2 ? image_avx2<B, 7> : image_plain<B, 7>;
    default:
      return nullptr;
  }
}

ImageFn pick(int64_t block, int64_t k, SingleChannelLoop loop) {
  if (block == 8) return pick_k<8>(k, loop);
  if (block == 16) return pick_k<16>(k, loop);
  return nullptr;
}

// x's image `n` into `xpad` [H + 2 pad, W + 2 pad] with zeros around.
void pad_image(const float* x, int64_t n, int64_t h, int64_t w, int64_t pad, float* xpad) {
  const int64_t pw = w + 2 * pad;
  std::fill(xpad, xpad + (h + 2 * pad) * pw, 0.0f);
  for (int64_t y = 0; y < h; ++y) {
    std::memcpy(xpad + (y + pad) * pw + pad, x + (n * h + y) * w, w * sizeof(float));
  }
}

}  // namespace

std::vector<SingleChannelLoop> single_channel_loops() {
  std::vector<SingleChannelLoop> loops;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    loops.push_back(SingleChannelLoop::avx2);
  }
  loops.push_back(SingleChannelLoop::plain);
  return loops;
}

bool single_channel_kernel_applies(const BlockedMap& ddst, int64_t k) {
  return (ddst.block == 8 || ddst.block == 16) && (k == 3 || k == 5 || k == 7);
}

torch::Tensor single_channel_conv_backward_weights(const torch::Tensor& x, const float* ddst,
                                                   const BlockedMap& s, int64_t k, int64_t pad) {
  return single_channel_conv_backward_weights(x, ddst, s, k, pad, single_channel_loops().front());
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
  const ImageFn fn = pick(s.block, k, loop);
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

void set_single_channel_kernels(bool on) {
  g_on.store(on);
}
bool single_channel_kernels() {
  return g_on.load();
}

}  // namespace mmfuse::encoders
