// Built on its own with -fopenmp (CMakeLists.txt): at::parallel_for forks only in such code, and
// `#pragma omp simd` vectorises the float reductions without -ffast-math.
#include "mmfuse/nn/encoders/bn_relu_pool.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <vector>

#include "mmfuse/core/simd.h"

namespace mmfuse::encoders {

namespace {

std::atomic<bool> g_fused{true};

constexpr uint8_t kNoGrad = 4;  // code of a window whose maximum is <= 0 (ReLU passes nothing)

// Sums of d = x - pivot and d^2 over one row (float lanes, then double per row).
MMFUSE_SIMD_CLONES
void row_moments(const float* __restrict x, int64_t n, float pivot, double& sum, double& sq) {
  float s = 0.f, q = 0.f;
#pragma omp simd reduction(+ : s, q)
  for (int64_t i = 0; i < n; ++i) {
    const float d = x[i] - pivot;
    s += d;
    q += d * d;
  }
  sum += s;
  sq += q;
}

// The kernels below are branch-free so that the compiler vectorises them (the window's four
// values are stride-2 loads of two rows; the position code is computed with selects).

// One pooled row: y = a * x + b over each 2x2 window of rows r0, r1; out = relu(first maximum),
// code = its position 0..3 (row-major) or kNoGrad. (Integer arithmetic for the code and no
// NaN case here: either keeps GCC from vectorising. A NaN makes its whole channel's statistics
// NaN, and forward() writes such channels as NaN.)
MMFUSE_SIMD_CLONES
void pool_row_forward(const float* __restrict r0, const float* __restrict r1, float a, float b,
                      float* __restrict out, uint8_t* __restrict code, int64_t ow) {
#pragma omp simd simdlen(8)
  for (int64_t j = 0; j < ow; ++j) {
    const float y0 = a * r0[2 * j] + b, y1 = a * r0[2 * j + 1] + b;
    const float y2 = a * r1[2 * j] + b, y3 = a * r1[2 * j + 1] + b;
    const int32_t g1 = y1 > y0, g3 = y3 > y2;
    const float m01 = g1 ? y1 : y0;
    const float m23 = g3 ? y3 : y2;
    const int32_t lower = m23 > m01;  // ties stay with the upper row: first in row-major order
    const float m = lower ? m23 : m01;
    const int32_t pass = m > 0.f;
    out[j] = pass ? m : 0.f;
    const int32_t k = lower * (2 + g3) + (1 - lower) * g1;
    code[j] = static_cast<uint8_t>(pass * k + (1 - pass) * kNoGrad);
  }
}

// sum g and sum g * (x - mean) over one pooled row of the map x (rows r0 and r0 + w; its codes
// name the positions). An indexed load rather than selects: no branch in the scalar remainder.
MMFUSE_SIMD_CLONES
void row_grad_sums(const float* __restrict r0, int64_t w, const float* __restrict g,
                   const uint8_t* __restrict code, int64_t ow, float mean, double& sum_g,
                   double& sum_gx) {
  float s = 0.f, sx = 0.f;
#pragma omp simd simdlen(8) reduction(+ : s, sx)
  for (int64_t j = 0; j < ow; ++j) {
    const int32_t k = code[j];
    const int32_t kk = k & 3;  // kNoGrad reads position 0, weighted 0
    const float v = r0[(kk >> 1) * w + 2 * j + (kk & 1)];
    const float gk = g[j] * static_cast<float>((k >> 2) ^ 1);
    s += gk;
    sx += gk * (v - mean);
  }
  sum_g += s;
  sum_gx += sx;
}

// dx = p - q * x over one row.
MMFUSE_SIMD_CLONES
void row_affine(const float* __restrict x, float* __restrict dx, int64_t n, float p, float q) {
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) dx[i] = p - q * x[i];
}

// Both input rows of one pooled row: dx = p - q * x, plus a * g at each window's coded position.
MMFUSE_SIMD_CLONES
void window_rows_backward(const float* __restrict r0, const float* __restrict r1,
                          float* __restrict d0, float* __restrict d1, const float* __restrict g,
                          const uint8_t* __restrict code, int64_t ow, float a, float p, float q) {
#pragma omp simd simdlen(8)
  for (int64_t j = 0; j < ow; ++j) {
    const int32_t k = code[j];
    const float ag = a * g[j];
    const float e0 = k == 0 ? ag : 0.f, e1 = k == 1 ? ag : 0.f;
    const float e2 = k == 2 ? ag : 0.f, e3 = k == 3 ? ag : 0.f;
    d0[2 * j] = p - q * r0[2 * j] + e0;
    d0[2 * j + 1] = p - q * r0[2 * j + 1] + e1;
    d1[2 * j] = p - q * r1[2 * j] + e2;
    d1[2 * j + 1] = p - q * r1[2 * j + 1] + e3;
  }
}

struct Shape {
  int64_t n, c, h, w;
  int64_t planes() const { return n * c; }
  int64_t plane() const { return h * w; }
  int64_t oh() const { return h / 2; }
  int64_t ow() const { return w / 2; }
  int64_t count() const { return n * h * w; }  // values per channel
};

Shape shape_of(const torch::Tensor& x) {
  return {x.size(0), x.size(1), x.size(2), x.size(3)};
}

/// Per-channel batch mean and biased variance of x [N, C, H, W] (contiguous), as double.
void channel_moments(const float* x, const Shape& s, std::vector<double>& mean,
                     std::vector<double>& var) {
  std::vector<double> sum(s.planes()), sq(s.planes());
  std::vector<float> pivot(s.c);
  for (int64_t c = 0; c < s.c; ++c) pivot[c] = x[c * s.plane()];  // against cancellation
  at::parallel_for(0, s.planes(), 1, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const float* plane = x + p * s.plane();
      for (int64_t i = 0; i < s.h; ++i)
        row_moments(plane + i * s.w, s.w, pivot[p % s.c], sum[p], sq[p]);
    }
  });
  mean.assign(s.c, 0.0);
  var.assign(s.c, 0.0);
  for (int64_t p = 0; p < s.planes(); ++p) mean[p % s.c] += sum[p], var[p % s.c] += sq[p];
  const double m = static_cast<double>(s.count());
  for (int64_t c = 0; c < s.c; ++c) {
    const double d = mean[c] / m;
    var[c] = std::max(var[c] / m - d * d, 0.0);
    mean[c] = pivot[c] + d;
  }
}

class BnReluPool : public torch::autograd::Function<BnReluPool> {
 public:
  // x [N, C, H, W], weight / bias [C], mean / invstd [C] (the batch's) ->
  // [N, C, H/2, W/2]
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, const torch::Tensor& bias,
                               const torch::Tensor& mean, const torch::Tensor& invstd) {
    const Shape s = shape_of(x);
    auto out = torch::empty({s.n, s.c, s.oh(), s.ow()}, x.options());
    auto code = torch::empty({s.n, s.c, s.oh(), s.ow()}, x.options().dtype(torch::kUInt8));
    auto [a, b] = scale_shift(weight, bias, mean, invstd);
    const float* px = x.data_ptr<float>();
    float* po = out.data_ptr<float>();
    uint8_t* pc = code.data_ptr<uint8_t>();
    const int64_t pooled = s.oh() * s.ow();
    at::parallel_for(0, s.planes(), 1, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        const float* plane = px + p * s.plane();
        const int64_t c = p % s.c;
        if (!std::isfinite(a[c]) || !std::isfinite(b[c])) {  // a NaN or inf in the channel
          std::fill_n(po + p * pooled, pooled, std::numeric_limits<float>::quiet_NaN());
          std::fill_n(pc + p * pooled, pooled, kNoGrad);
          continue;
        }
        for (int64_t i = 0; i < s.oh(); ++i) {
          const float* r0 = plane + 2 * i * s.w;
          pool_row_forward(r0, r0 + s.w, a[c], b[c], po + p * pooled + i * s.ow(),
                           pc + p * pooled + i * s.ow(), s.ow());
        }
      }
    });
    ctx->save_for_backward({x, weight, mean, invstd, code});
    return out;
  }

  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext* ctx,
                                               torch::autograd::tensor_list grads) {
    auto saved = ctx->get_saved_variables();
    const torch::Tensor &x = saved[0], &weight = saved[1], &mean_t = saved[2], &invstd_t = saved[3],
                        &code = saved[4];
    const auto g = grads[0].contiguous();
    const Shape s = shape_of(x);
    const float* px = x.data_ptr<float>();
    const float* pg = g.data_ptr<float>();
    const uint8_t* pc = code.data_ptr<uint8_t>();
    const float* mean = mean_t.data_ptr<float>();
    const float* invstd = invstd_t.data_ptr<float>();
    const int64_t pooled = s.oh() * s.ow();

    // Pass 1: per-channel sum dy and sum dy * (x - mean) over the coded positions.
    std::vector<double> pg_sum(s.planes(), 0.0), pg_sumx(s.planes(), 0.0);
    at::parallel_for(0, s.planes(), 1, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        const float* plane = px + p * s.plane();
        for (int64_t i = 0; i < s.oh(); ++i) {
          const float* r0 = plane + 2 * i * s.w;
          const int64_t o = p * pooled + i * s.ow();
          row_grad_sums(r0, s.w, pg + o, pc + o, s.ow(), mean[p % s.c], pg_sum[p], pg_sumx[p]);
        }
      }
    });
    std::vector<double> sum_dy(s.c, 0.0), sum_dyxhat(s.c, 0.0);
    for (int64_t p = 0; p < s.planes(); ++p) {
      sum_dy[p % s.c] += pg_sum[p];
      sum_dyxhat[p % s.c] += pg_sumx[p] * invstd[p % s.c];
    }

    // Pass 2: dx = a * (dy - sum_dy / M - x_hat * sum_dyxhat / M) = a * dy + p - q * x.
    std::vector<float> a(s.c), pc_(s.c), qc(s.c);
    const double m = static_cast<double>(s.count());
    const float* pw = weight.data_ptr<float>();
    for (int64_t c = 0; c < s.c; ++c) {
      const double ac = pw[c] * invstd[c];
      const double q = ac * invstd[c] * sum_dyxhat[c] / m;
      a[c] = static_cast<float>(ac);
      qc[c] = static_cast<float>(q);
      pc_[c] = static_cast<float>(-ac * sum_dy[c] / m + q * mean[c]);
    }
    auto dx = torch::empty_like(x);
    float* pdx = dx.data_ptr<float>();
    at::parallel_for(0, s.planes(), 1, [&](int64_t p0, int64_t p1) {
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t c = p % s.c;
        const float* plane = px + p * s.plane();
        float* dplane = pdx + p * s.plane();
        for (int64_t i = 0; i < s.oh(); ++i) {
          const float* r0 = plane + 2 * i * s.w;
          float* d0 = dplane + 2 * i * s.w;
          const int64_t o = p * pooled + i * s.ow();
          window_rows_backward(r0, r0 + s.w, d0, d0 + s.w, pg + o, pc + o, s.ow(), a[c], pc_[c],
                               qc[c]);
          if (s.w % 2 == 1) {  // the last column, pooled away: no dy
            for (int64_t r = 0; r < 2; ++r) {
              d0[r * s.w + s.w - 1] = pc_[c] - qc[c] * r0[r * s.w + s.w - 1];
            }
          }
        }
        if (s.h % 2 == 1) {  // the last row, pooled away
          const int64_t last = (s.h - 1) * s.w;
          row_affine(plane + last, dplane + last, s.w, pc_[c], qc[c]);
        }
      }
    });

    auto dweight = torch::tensor(std::vector<float>(sum_dyxhat.begin(), sum_dyxhat.end()));
    auto dbias = torch::tensor(std::vector<float>(sum_dy.begin(), sum_dy.end()));
    return {dx, dweight, dbias, torch::Tensor(), torch::Tensor()};
  }

 private:
  // y = a * x + b with a = gamma * invstd, b = beta - mean * a (per channel, as LibTorch's
  // batch_norm_cpu_transform_input).
  static std::pair<std::vector<float>, std::vector<float>> scale_shift(
      const torch::Tensor& weight, const torch::Tensor& bias, const torch::Tensor& mean,
      const torch::Tensor& invstd) {
    const int64_t c = mean.size(0);
    std::vector<float> a(c), b(c);
    for (int64_t i = 0; i < c; ++i) {
      a[i] = weight.data_ptr<float>()[i] * invstd.data_ptr<float>()[i];
      b[i] = bias.data_ptr<float>()[i] - mean.data_ptr<float>()[i] * a[i];
    }
    return {a, b};
  }
};

}  // namespace

/// running = (1 - f) * running + f * batch (the variance unbiased), as BatchNorm's forward.
void update_bn_running_stats(torch::nn::BatchNorm2dImpl& bn, const std::vector<double>& mean,
                             const std::vector<double>& var, int64_t count) {
  if (!bn.options.track_running_stats() || !bn.running_mean.defined()) return;
  torch::NoGradGuard no_grad;
  double factor = bn.options.momentum().value_or(0.0);
  if (bn.num_batches_tracked.defined()) {
    bn.num_batches_tracked += 1;
    if (!bn.options.momentum()) factor = 1.0 / bn.num_batches_tracked.item<double>();
  }
  auto rm = bn.running_mean.accessor<float, 1>();
  auto rv = bn.running_var.accessor<float, 1>();
  const double unbias = count > 1 ? static_cast<double>(count) / (count - 1) : 1.0;
  for (int64_t c = 0; c < rm.size(0); ++c) {
    rm[c] = static_cast<float>((1 - factor) * rm[c] + factor * mean[c]);
    rv[c] = static_cast<float>((1 - factor) * rv[c] + factor * var[c] * unbias);
  }
}

std::pair<torch::Tensor, torch::Tensor> mean_and_invstd(const std::vector<double>& mean,
                                                        const std::vector<double>& var,
                                                        double eps) {
  const auto c = static_cast<int64_t>(mean.size());
  auto mean_t = torch::empty({c}), invstd_t = torch::empty({c});
  for (int64_t i = 0; i < c; ++i) {
    mean_t.data_ptr<float>()[i] = static_cast<float>(mean[i]);
    invstd_t.data_ptr<float>()[i] = static_cast<float>(1.0 / std::sqrt(var[i] + eps));
  }
  return {mean_t, invstd_t};
}

bool fused_block_applies(const torch::Tensor& x) {
  return g_fused.load() && x.dim() == 4 && x.device().is_cpu() &&
         x.scalar_type() == torch::kFloat32 && x.size(2) >= 2 && x.size(3) >= 2 && x.numel() > 0;
}

torch::Tensor bn_relu_max_pool2(const torch::Tensor& input, torch::nn::BatchNorm2dImpl& bn) {
  TORCH_CHECK(fused_block_applies(input),
              "bn_relu_max_pool2 expects a float32 CPU map [N, C, H, W] "
              "with H, W >= 2, got ",
              input.sizes(), " ", input.dtype(), " on ", input.device());
  TORCH_CHECK(input.size(1) == bn.options.num_features(), "bn_relu_max_pool2: the map has ",
              input.size(1), " channels, the batch norm ", bn.options.num_features());
  auto x = input.contiguous();
  const Shape s = shape_of(x);
  std::vector<double> mean, var;
  channel_moments(x.data_ptr<float>(), s, mean, var);
  update_bn_running_stats(bn, mean, var, s.count());
  auto [mean_t, invstd_t] = mean_and_invstd(mean, var, bn.options.eps());
  // Without affine parameters: gamma 1 and beta 0 as constants (autograd needs defined inputs).
  auto weight = bn.weight.defined() ? bn.weight : torch::ones({s.c}, x.options());
  auto bias = bn.bias.defined() ? bn.bias : torch::zeros({s.c}, x.options());
  return BnReluPool::apply(x, weight, bias, mean_t, invstd_t);
}

void set_fused_blocks(bool on) {
  g_fused.store(on);
}
bool fused_blocks() {
  return g_fused.load();
}

}  // namespace mmfuse::encoders
