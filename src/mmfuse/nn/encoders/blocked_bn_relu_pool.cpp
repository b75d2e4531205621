// Built on its own with -fopenmp (CMakeLists.txt), as bn_relu_pool.cpp: at::parallel_for forks
// only in such code.
#include "mmfuse/nn/encoders/blocked_bn_relu_pool.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>

#include "mmfuse/core/simd.h"
#include "mmfuse/nn/encoders/bn_relu_pool.h"

#define MMFUSE_INLINE inline __attribute__((always_inline))

// The 32-byte vectors below never cross a call boundary (every helper is inlined).
#pragma GCC diagnostic ignored "-Wpsabi"

namespace mmfuse::encoders {

namespace {

constexpr uint8_t kNoGrad = 4;  // code of a window whose maximum is <= 0 (ReLU passes nothing)

// A pixel's B lanes (B >= 8: 8 or 16 for oneDNN's blocked layouts, C for NHWC) are read as
// ceil(B / 8) vectors of 8 floats (GCC vector extensions: one AVX register, or two SSE ones on
// the baseline) starting at chunk_start(): when B is not a multiple of 8 the last chunk overlaps
// the one before (elementwise results are written twice, equal; reductions skip the repeated
// lanes when they are folded). The window's selects are vector selects: nothing branches per lane.
typedef float V __attribute__((vector_size(32)));
typedef int32_t VI __attribute__((vector_size(32)));
typedef uint8_t VB __attribute__((vector_size(8)));
constexpr int64_t kLanes = 8;  // floats per V

MMFUSE_INLINE V load(const float* p) {
  V v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
MMFUSE_INLINE void store(float* p, V v) {
  std::memcpy(p, &v, sizeof v);
}
MMFUSE_INLINE VI load_codes(const uint8_t* p) {
  VB b;
  std::memcpy(&b, p, sizeof b);
  return __builtin_convertvector(b, VI);
}
MMFUSE_INLINE void store_codes(uint8_t* p, VI k) {
  const VB b = __builtin_convertvector(k, VB);
  std::memcpy(p, &b, sizeof b);
}
MMFUSE_INLINE int64_t chunks(int64_t b) {
  return (b + kLanes - 1) / kLanes;
}
MMFUSE_INLINE int64_t chunk_start(int64_t h, int64_t b) {
  return std::min(h * kLanes, b - kLanes);
}
// Adds the lanes of v that chunk h covers first into sum[chunk_start + l].
MMFUSE_INLINE void fold(V v, int64_t h, int64_t b, double* sum) {
  const int64_t st = chunk_start(h, b);
  for (int64_t l = h * kLanes - st; l < kLanes; ++l) sum[st + l] += v[l];
}

// Sums of d = x - pivot and d^2 over the W pixels of one row, per lane.
MMFUSE_SIMD_CLONES
void moments_row(const float* x, int64_t w, int64_t b, const float* pivot, double* sum,
                 double* sq) {
  for (int64_t h = 0; h < chunks(b); ++h) {
    const int64_t st = chunk_start(h, b);
    const V pv = load(pivot + st);
    V s{}, q{};
    for (int64_t j = 0; j < w; ++j) {
      const V d = load(x + j * b + st) - pv;
      s += d;
      q += d * d;
    }
    fold(s, h, b, sum);
    fold(q, h, b, sq);
  }
}

// One pooled row from input rows r0, r1: y = a * x + b over each 2x2 window, out = relu(first
// maximum), code = its position (row-major) or kNoGrad, as bn_relu_pool.cpp per lane.
MMFUSE_SIMD_CLONES
void pool_row(const float* r0, const float* r1, int64_t b, const float* pa, const float* pb,
              float* out, uint8_t* code, int64_t ow) {
  for (int64_t h = 0; h < chunks(b); ++h) {
    const int64_t st = chunk_start(h, b);
    const V va = load(pa + st), vb = load(pb + st);
    for (int64_t j = 0; j < ow; ++j) {
      const int64_t o = 2 * j * b + st;
      const V y0 = va * load(r0 + o) + vb, y1 = va * load(r0 + o + b) + vb;
      const V y2 = va * load(r1 + o) + vb, y3 = va * load(r1 + o + b) + vb;
      const VI g1 = y1 > y0, g3 = y3 > y2;  // -1 where true
      const V m01 = g1 ? y1 : y0, m23 = g3 ? y3 : y2;
      const VI lower = m23 > m01;  // ties stay with the upper row: first in row-major order
      const V m = lower ? m23 : m01;
      const VI pass = m > V{};
      store(out + j * b + st, pass ? m : V{});
      const VI k = lower ? 2 + (g3 & 1) : (g1 & 1);
      store_codes(code + j * b + st, pass ? k : VI{} + kNoGrad);
    }
  }
}

// sum g and sum g * (x - mean) over one pooled row (g: [OW, b]).
MMFUSE_SIMD_CLONES
void grad_sums_row(const float* r0, const float* r1, int64_t b, const float* g, const uint8_t* code,
                   int64_t ow, const float* mean, double* sum, double* sumx) {
  for (int64_t h = 0; h < chunks(b); ++h) {
    const int64_t st = chunk_start(h, b);
    const V vm = load(mean + st);
    V s{}, sx{};
    for (int64_t j = 0; j < ow; ++j) {
      const int64_t o = 2 * j * b + st;
      const VI k = load_codes(code + j * b + st);
      const VI odd = (k & 1) != 0, low = (k & 2) != 0;
      const V v01 = odd ? load(r0 + o + b) : load(r0 + o);
      const V v23 = odd ? load(r1 + o + b) : load(r1 + o);
      const V v = low ? v23 : v01;
      const V gk = k == kNoGrad ? V{} : load(g + j * b + st);
      s += gk;
      sx += gk * (v - vm);
    }
    fold(s, h, b, sum);
    fold(sx, h, b, sumx);
  }
}

// Both input rows of one pooled row: dx = p - q * x, plus a * g at the coded position.
MMFUSE_SIMD_CLONES
void backward_rows(const float* r0, const float* r1, float* d0, float* d1, int64_t b,
                   const float* g, const uint8_t* code, int64_t ow, const float* pa,
                   const float* pp, const float* pq) {
  for (int64_t h = 0; h < chunks(b); ++h) {
    const int64_t st = chunk_start(h, b);
    const V va = load(pa + st), vp = load(pp + st), vq = load(pq + st);
    for (int64_t j = 0; j < ow; ++j) {
      const int64_t o = 2 * j * b + st;
      const VI k = load_codes(code + j * b + st);
      const V ag = va * load(g + j * b + st);
      store(d0 + o, vp - vq * load(r0 + o) + (k == 0 ? ag : V{}));
      store(d0 + o + b, vp - vq * load(r0 + o + b) + (k == 1 ? ag : V{}));
      store(d1 + o, vp - vq * load(r1 + o) + (k == 2 ? ag : V{}));
      store(d1 + o + b, vp - vq * load(r1 + o + b) + (k == 3 ? ag : V{}));
    }
  }
}

// dx = p - q * x over n pixels.
MMFUSE_SIMD_CLONES
void affine_pixels(const float* x, float* dx, int64_t n, int64_t b, const float* pp,
                   const float* pq) {
  for (int64_t h = 0; h < chunks(b); ++h) {
    const int64_t st = chunk_start(h, b);
    const V vp = load(pp + st), vq = load(pq + st);
    for (int64_t j = 0; j < n; ++j) store(dx + j * b + st, vp - vq * load(x + j * b + st));
  }
}

// Lanes of channel block cb that hold channels (the last block may be partly padding).
int64_t valid_lanes(const BlockedMap& s, int64_t cb) {
  return std::min(s.block, s.c - cb * s.block);
}

// Offset of row i of image n in the channels-last pooled map [N, OH, OW, C].
int64_t pooled_row(const BlockedMap& s, int64_t n, int64_t i) {
  return (n * s.oh() + i) * s.ow() * s.c;
}
// Row i of plane (n, cb) of the channels-last gradient g as [OW, B]: g itself for NHWC, else
// gathered into `row` (padding lanes zero).
const float* gradient_row(const float* g, const BlockedMap& s, int64_t n, int64_t cb, int64_t i,
                          float* row) {
  const float* src = g + pooled_row(s, n, i) + cb * s.block;
  if (s.nhwc()) return src;
  const int64_t lanes = valid_lanes(s, cb);
  for (int64_t j = 0; j < s.ow(); ++j) {
    std::copy_n(src + j * s.c, lanes, row + j * s.block);
    std::fill(row + j * s.block + lanes, row + (j + 1) * s.block, 0.f);
  }
  return row;
}

// Per-plane, per-lane sums [planes, B] -> per-channel sums [C].
void sum_planes(const BlockedMap& s, const std::vector<double>& planes, std::vector<double>& out) {
  out.assign(s.c, 0.0);
  for (int64_t p = 0; p < s.planes(); ++p) {
    const int64_t cb = p % s.blocks();
    for (int64_t l = 0; l < valid_lanes(s, cb); ++l)
      out[cb * s.block + l] += planes[p * s.block + l];
  }
}

void check_lanes(const BlockedMap& s) {
  if (s.block < kLanes || (s.blocks() > 1 && s.block % kLanes != 0)) {
    throw std::invalid_argument("blocked BatchNorm-ReLU-pool: " + std::to_string(s.block) +
                                " lanes per pixel for " + std::to_string(s.c) +
                                " channels; expected blocks of 8 or 16, or all channels (>= 8)");
  }
}

}  // namespace

void blocked_moments(const float* x, const BlockedMap& s, std::vector<double>& mean,
                     std::vector<double>& var) {
  check_lanes(s);
  const int64_t lanes = s.padded_channels();
  std::vector<float> pivot(lanes);
  for (int64_t c = 0; c < lanes; ++c) pivot[c] = x[(c / s.block) * s.plane() + c % s.block];
  std::vector<double> sum(s.planes() * s.block, 0.0), sq(s.planes() * s.block, 0.0);
  at::parallel_for(0, s.planes(), 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const float* plane = x + p * s.plane();
      const float* pv = pivot.data() + (p % s.blocks()) * s.block;
      for (int64_t i = 0; i < s.h; ++i) {
        moments_row(plane + i * s.w * s.block, s.w, s.block, pv, &sum[p * s.block],
                    &sq[p * s.block]);
      }
    }
  });
  sum_planes(s, sum, mean);
  sum_planes(s, sq, var);
  const double m = static_cast<double>(s.n * s.h * s.w);
  for (int64_t c = 0; c < s.c; ++c) {
    const double d = mean[c] / m;
    var[c] = std::max(var[c] / m - d * d, 0.0);
    mean[c] = pivot[c] + d;
  }
}

void blocked_pool_forward(const float* x, const BlockedMap& s, const float* a, const float* b,
                          float* out, uint8_t* code) {
  check_lanes(s);
  const int64_t row_codes = s.ow() * s.block;
  at::parallel_for(0, s.planes(), 1, [&](int64_t p0, int64_t p1) {
    std::vector<float> row(row_codes);
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t n = p / s.blocks(), cb = p % s.blocks();
      const float* plane = x + p * s.plane();
      const float *pa = a + cb * s.block, *pb = b + cb * s.block;
      const bool direct = s.nhwc();  // the pooled row is the output's
      for (int64_t i = 0; i < s.oh(); ++i) {
        const float* r0 = plane + 2 * i * s.w * s.block;
        uint8_t* crow = code + (p * s.oh() + i) * row_codes;
        float* dst = out + pooled_row(s, n, i) + cb * s.block;
        pool_row(r0, r0 + s.w * s.block, s.block, pa, pb, direct ? dst : row.data(), crow, s.ow());
        for (int64_t l = 0; l < valid_lanes(s, cb); ++l) {
          if (!std::isfinite(pa[l]) || !std::isfinite(pb[l])) {  // a NaN or inf in the channel
            for (int64_t j = 0; j < s.ow(); ++j) {
              dst[j * s.c + l] = std::numeric_limits<float>::quiet_NaN();
              crow[j * s.block + l] = kNoGrad;
            }
          } else if (!direct) {
            for (int64_t j = 0; j < s.ow(); ++j) dst[j * s.c + l] = row[j * s.block + l];
          }
        }
      }
    }
  });
}

void blocked_grad_sums(const float* x, const BlockedMap& s, const float* g, const uint8_t* code,
                       const float* mean, std::vector<double>& sum_g, std::vector<double>& sum_gx) {
  check_lanes(s);
  const int64_t row_codes = s.ow() * s.block;
  std::vector<double> sum(s.planes() * s.block, 0.0), sumx(s.planes() * s.block, 0.0);
  at::parallel_for(0, s.planes(), 1, [&](int64_t p0, int64_t p1) {
    std::vector<float> row(row_codes);
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t n = p / s.blocks(), cb = p % s.blocks();
      const float* plane = x + p * s.plane();
      for (int64_t i = 0; i < s.oh(); ++i) {
        const float* grow = gradient_row(g, s, n, cb, i, row.data());
        const float* r0 = plane + 2 * i * s.w * s.block;
        grad_sums_row(r0, r0 + s.w * s.block, s.block, grow, code + (p * s.oh() + i) * row_codes,
                      s.ow(), mean + cb * s.block, &sum[p * s.block], &sumx[p * s.block]);
      }
    }
  });
  sum_planes(s, sum, sum_g);
  sum_planes(s, sumx, sum_gx);
}

void blocked_pool_backward(const float* x, const BlockedMap& s, const float* g, const uint8_t* code,
                           const float* a, const float* p, const float* q, float* dx) {
  check_lanes(s);
  const int64_t row_codes = s.ow() * s.block, row = s.w * s.block;
  at::parallel_for(0, s.planes(), 1, [&](int64_t p0, int64_t p1) {
    std::vector<float> buffer(row_codes);
    for (int64_t pl = p0; pl < p1; ++pl) {
      const int64_t n = pl / s.blocks(), cb = pl % s.blocks();
      const float *pa = a + cb * s.block, *pp = p + cb * s.block, *pq = q + cb * s.block;
      const float* plane = x + pl * s.plane();
      float* dplane = dx + pl * s.plane();
      for (int64_t i = 0; i < s.oh(); ++i) {
        const float* grow = gradient_row(g, s, n, cb, i, buffer.data());
        const float* r0 = plane + 2 * i * row;
        float* d0 = dplane + 2 * i * row;
        backward_rows(r0, r0 + row, d0, d0 + row, s.block, grow,
                      code + (pl * s.oh() + i) * row_codes, s.ow(), pa, pp, pq);
        if (s.w % 2 == 1) {  // the last column, pooled away: no dy
          affine_pixels(r0 + row - s.block, d0 + row - s.block, 1, s.block, pp, pq);
          affine_pixels(r0 + 2 * row - s.block, d0 + 2 * row - s.block, 1, s.block, pp, pq);
        }
      }
      if (s.h % 2 == 1) {  // the last row, pooled away
        affine_pixels(plane + (s.h - 1) * row, dplane + (s.h - 1) * row, s.w, s.block, pp, pq);
      }
    }
  });
}

namespace {

// Per-channel vectors padded with zeros to the blocked width.
std::vector<float> padded(int64_t lanes) {
  return std::vector<float>(static_cast<std::size_t>(lanes), 0.f);
}

}  // namespace

torch::Tensor blocked_bn_relu_max_pool2(const torch::Tensor& x, const BlockedMap& s,
                                        const torch::Tensor& gamma, const torch::Tensor& beta,
                                        torch::nn::BatchNorm2dImpl& bn, BlockedBnSaved& saved) {
  TORCH_CHECK(x.scalar_type() == torch::kFloat32 && x.is_contiguous() && x.numel() >= s.numel(),
              "blocked_bn_relu_max_pool2 expects ", s.numel(), " contiguous floats, got ",
              x.sizes(), " ", x.dtype());
  TORCH_CHECK(gamma.numel() == s.c && beta.numel() == s.c, "blocked_bn_relu_max_pool2: ", s.c,
              " channels, but gamma has ", gamma.numel(), " values and beta ", beta.numel());
  std::vector<double> mean, var;
  blocked_moments(x.data_ptr<float>(), s, mean, var);
  update_bn_running_stats(bn, mean, var, s.n * s.h * s.w);
  std::tie(saved.mean, saved.invstd) = mean_and_invstd(mean, var, bn.options.eps());
  auto a = padded(s.padded_channels()), b = padded(s.padded_channels());
  for (int64_t c = 0; c < s.c; ++c) {  // y = a * x + b, as bn_relu_pool.cpp
    a[c] = gamma.data_ptr<float>()[c] * saved.invstd.data_ptr<float>()[c];
    b[c] = beta.data_ptr<float>()[c] - saved.mean.data_ptr<float>()[c] * a[c];
  }
  auto out = torch::empty({s.n, s.oh(), s.ow(), s.c}).permute({0, 3, 1, 2});  // channels-last
  saved.code = torch::empty({s.pooled_codes()}, torch::kUInt8);
  blocked_pool_forward(x.data_ptr<float>(), s, a.data(), b.data(), out.data_ptr<float>(),
                       saved.code.data_ptr<uint8_t>());
  return out;
}

std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> blocked_bn_relu_max_pool2_backward(
    const torch::Tensor& x, const BlockedMap& s, const torch::Tensor& g_any,
    const torch::Tensor& gamma, const BlockedBnSaved& saved) {
  const auto g = g_any.contiguous(torch::MemoryFormat::ChannelsLast);
  // BatchNorm's reductions, then dx = a * dy + p - q * x (a = gamma * invstd; p, q per channel,
  // as bn_relu_pool.cpp).
  const int64_t lanes = s.padded_channels();
  auto mean = padded(lanes);
  std::copy_n(saved.mean.data_ptr<float>(), s.c, mean.begin());
  std::vector<double> sum_dy, sum_dyx;
  blocked_grad_sums(x.data_ptr<float>(), s, g.data_ptr<float>(), saved.code.data_ptr<uint8_t>(),
                    mean.data(), sum_dy, sum_dyx);
  auto a = padded(lanes), pc = padded(lanes), qc = padded(lanes);
  auto dgamma = torch::empty({s.c}), dbeta = torch::empty({s.c});
  const double m = static_cast<double>(s.n * s.h * s.w);
  for (int64_t c = 0; c < s.c; ++c) {
    const double invstd = saved.invstd.data_ptr<float>()[c];
    const double sum_dyxhat = sum_dyx[c] * invstd;
    const double ac = gamma.data_ptr<float>()[c] * invstd;
    const double q = ac * invstd * sum_dyxhat / m;
    a[c] = static_cast<float>(ac);
    qc[c] = static_cast<float>(q);
    pc[c] = static_cast<float>(-ac * sum_dy[c] / m + q * mean[c]);
    dgamma.data_ptr<float>()[c] = static_cast<float>(sum_dyxhat);
    dbeta.data_ptr<float>()[c] = static_cast<float>(sum_dy[c]);
  }
  auto dx = torch::empty_like(x);
  blocked_pool_backward(x.data_ptr<float>(), s, g.data_ptr<float>(), saved.code.data_ptr<uint8_t>(),
                        a.data(), pc.data(), qc.data(), dx.data_ptr<float>());
  return {dx, dgamma, dbeta};
}

}  // namespace mmfuse::encoders
