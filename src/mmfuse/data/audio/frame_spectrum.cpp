#include "mmfuse/data/audio/frame_spectrum.h"

#include <torch/torch.h>

#include <cmath>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <new>

#include "mmfuse/core/error.h"
#include "mmfuse/core/simd.h"  // the kernel is compiled for AVX2 and the baseline

namespace mmfuse::data::audio {

namespace {

constexpr int64_t kLanes = 8;  // frames per transform, one per vector lane
// kLanes floats: one value of kLanes frames (GCC/Clang vector extension; operators act lane-wise).
typedef float V __attribute__((vector_size(kLanes * sizeof(float))));

struct Pass {
  int p = 0;                        // radix
  int64_t m = 0, s = 0;             // sub-length (n / p) and stride (product of earlier radices)
  std::vector<float> tw_re, tw_im;  // [m][p]: exp(-2 pi i j u / (m p))
  std::vector<float> cos, sin;      // odd p: [h][h] cos/sin(2 pi r u / p), r, u in 1..h
};

// Radices of n: 4s, then 2s, then odd primes ascending.
std::vector<int> factorize(int64_t n) {
  std::vector<int> f;
  while (n % 4 == 0) f.push_back(4), n /= 4;
  while (n % 2 == 0) f.push_back(2), n /= 2;
  for (int64_t p = 3; p * p <= n; p += 2) {
    while (n % p == 0) f.push_back(static_cast<int>(p)), n /= p;
  }
  if (n > 1) f.push_back(static_cast<int>(n));
  return f;
}

}  // namespace

struct FrameSpectrum::Plan {
  int64_t n = 0, m = 0;  // real FFT size and the complex FFT size n / 2
  std::vector<float> window;
  std::vector<Pass> passes;
  std::vector<float> post_re, post_im;  // exp(-2 pi i k / n), k = 0..m
  int max_half = 0;                     // largest (p - 1) / 2 over odd radices
};

namespace {

// Complex FFT of length plan.m over kLanes frames (Stockham DIF; each pass maps x -> y as
//   y[q + s (p j + u)] = w_n^(j u) sum_r x[q + s (j + r m)] w_p^(r u),  n = m p,  j < m, q < s),
// then the real-FFT split X_k = E_k + w^k O_k and |X_k|^2 into pw[k], k = 0..m.
MMFUSE_SIMD_CLONES
void block_power(const FrameSpectrum::Plan& plan, V* xr, V* xi, V* yr, V* yi, V* work, V* pw) {
  for (const Pass& ps : plan.passes) {
    const int p = ps.p;
    const int64_t m = ps.m, s = ps.s;
    for (int64_t j = 0; j < m; ++j) {
      const float* twr = ps.tw_re.data() + j * p;
      const float* twi = ps.tw_im.data() + j * p;
      for (int64_t q = 0; q < s; ++q) {
        const int64_t in0 = q + s * j, in_step = s * m, out0 = q + s * p * j;
        if (p == 2) {
          const V ar = xr[in0], ai = xi[in0], br = xr[in0 + in_step], bi = xi[in0 + in_step];
          const V dr = ar - br, di = ai - bi;
          yr[out0] = ar + br;
          yi[out0] = ai + bi;
          yr[out0 + s] = dr * twr[1] - di * twi[1];
          yi[out0 + s] = dr * twi[1] + di * twr[1];
        } else if (p == 4) {
          const V a0r = xr[in0], a0i = xi[in0], a1r = xr[in0 + in_step], a1i = xi[in0 + in_step];
          const V a2r = xr[in0 + 2 * in_step], a2i = xi[in0 + 2 * in_step];
          const V a3r = xr[in0 + 3 * in_step], a3i = xi[in0 + 3 * in_step];
          const V t0r = a0r + a2r, t0i = a0i + a2i, t1r = a0r - a2r, t1i = a0i - a2i;
          const V t2r = a1r + a3r, t2i = a1i + a3i, t3r = a1r - a3r, t3i = a1i - a3i;
          // X0 = t0 + t2, X1 = t1 - i t3, X2 = t0 - t2, X3 = t1 + i t3
          const V xr_[4] = {t0r + t2r, t1r + t3i, t0r - t2r, t1r - t3i};
          const V xi_[4] = {t0i + t2i, t1i - t3r, t0i - t2i, t1i + t3r};
          yr[out0] = xr_[0];
          yi[out0] = xi_[0];
          for (int u = 1; u < 4; ++u) {
            yr[out0 + u * s] = xr_[u] * twr[u] - xi_[u] * twi[u];
            yi[out0 + u * s] = xr_[u] * twi[u] + xi_[u] * twr[u];
          }
        } else {  // odd p: pair r with p - r: A_r = a_r + a_{p-r}, B_r = a_r - a_{p-r}
          const int h = (p - 1) / 2;
          V *Ar = work, *Ai = work + h, *Br = work + 2 * h, *Bi = work + 3 * h;
          const V a0r = xr[in0], a0i = xi[in0];
          V sum_r = a0r, sum_i = a0i;
          for (int r = 1; r <= h; ++r) {
            const int64_t pos = in0 + r * in_step, neg = in0 + (p - r) * in_step;
            Ar[r - 1] = xr[pos] + xr[neg];
            Ai[r - 1] = xi[pos] + xi[neg];
            Br[r - 1] = xr[pos] - xr[neg];
            Bi[r - 1] = xi[pos] - xi[neg];
            sum_r += Ar[r - 1];
            sum_i += Ai[r - 1];
          }
          yr[out0] = sum_r;
          yi[out0] = sum_i;
          for (int u = 1; u <= h; ++u) {
            // X_u = T1 - i T2, X_{p-u} = T1 + i T2 with T1 = a0 + sum A c, T2 = sum B s.
            V t1r = a0r, t1i = a0i, t2r = {}, t2i = {};
            const float* c = ps.cos.data() + (u - 1);
            const float* sn = ps.sin.data() + (u - 1);
            for (int r = 0; r < h; ++r) {
              t1r += Ar[r] * c[r * h];
              t1i += Ai[r] * c[r * h];
              t2r += Br[r] * sn[r * h];
              t2i += Bi[r] * sn[r * h];
            }
            const V ur = t1r + t2i, ui = t1i - t2r, vr = t1r - t2i, vi = t1i + t2r;
            const int v = p - u;
            yr[out0 + u * s] = ur * twr[u] - ui * twi[u];
            yi[out0 + u * s] = ur * twi[u] + ui * twr[u];
            yr[out0 + v * s] = vr * twr[v] - vi * twi[v];
            yi[out0 + v * s] = vr * twi[v] + vi * twr[v];
          }
        }
      }
    }
    std::swap(xr, yr);
    std::swap(xi, yi);
  }
  // The result is in (xr, xi). E_k = (Z_k + conj Z_{m-k}) / 2, O_k = (Z_k - conj Z_{m-k}) / 2i.
  const int64_t m = plan.m;
  for (int64_t k = 0; k <= m; ++k) {
    const V pr = xr[k % m], pi = xi[k % m], qr = xr[(m - k) % m], qi = xi[(m - k) % m];
    const V er = 0.5f * (pr + qr), ei = 0.5f * (pi - qi);
    const V o_r = 0.5f * (pi + qi), o_i = -0.5f * (pr - qr);
    const float wr = plan.post_re[k], wi = plan.post_im[k];
    const V re = er + o_r * wr - o_i * wi, im = ei + o_i * wr + o_r * wi;
    pw[k] = re * re + im * im;
  }
}

}  // namespace

FrameSpectrum::FrameSpectrum(int64_t n_fft) : n_(n_fft) {
  if (n_fft < 2 || n_fft % 2 != 0) {
    throw Error("FrameSpectrum: expected an even FFT size >= 2, got " + std::to_string(n_fft));
  }
  auto plan = std::make_shared<Plan>();
  plan->n = n_fft;
  plan->m = n_fft / 2;
  torch::Tensor w = torch::hann_window(n_fft, torch::kFloat).contiguous();
  plan->window.assign(w.data_ptr<float>(), w.data_ptr<float>() + n_fft);
  int64_t n = plan->m, s = 1;
  for (int p : factorize(plan->m)) {
    Pass pass;
    pass.p = p;
    pass.m = n / p;
    pass.s = s;
    pass.tw_re.resize(static_cast<std::size_t>(pass.m * p));
    pass.tw_im.resize(pass.tw_re.size());
    for (int64_t j = 0; j < pass.m; ++j) {
      for (int u = 0; u < p; ++u) {
        const double a = -2.0 * M_PI * static_cast<double>(j * u) / static_cast<double>(n);
        pass.tw_re[j * p + u] = static_cast<float>(std::cos(a));
        pass.tw_im[j * p + u] = static_cast<float>(std::sin(a));
      }
    }
    if (p % 2 == 1) {
      const int h = (p - 1) / 2;
      plan->max_half = std::max(plan->max_half, h);
      pass.cos.resize(static_cast<std::size_t>(h * h));
      pass.sin.resize(pass.cos.size());
      for (int r = 1; r <= h; ++r) {
        for (int u = 1; u <= h; ++u) {
          const double a = 2.0 * M_PI * ((r * u) % p) / p;
          pass.cos[(r - 1) * h + (u - 1)] = static_cast<float>(std::cos(a));
          pass.sin[(r - 1) * h + (u - 1)] = static_cast<float>(std::sin(a));
        }
      }
    }
    plan->passes.push_back(std::move(pass));
    n /= p;
    s *= p;
  }
  plan->post_re.resize(static_cast<std::size_t>(plan->m + 1));
  plan->post_im.resize(plan->post_re.size());
  for (int64_t k = 0; k <= plan->m; ++k) {
    const double a = -2.0 * M_PI * static_cast<double>(k) / static_cast<double>(n_fft);
    plan->post_re[k] = static_cast<float>(std::cos(a));
    plan->post_im[k] = static_cast<float>(std::sin(a));
  }
  plan_ = std::move(plan);
}

FrameSpectrum::~FrameSpectrum() = default;

std::shared_ptr<const FrameSpectrum> FrameSpectrum::get(int64_t n_fft) {
  static std::mutex mutex;
  static std::map<int64_t, std::shared_ptr<const FrameSpectrum>> plans;
  std::lock_guard<std::mutex> lock(mutex);
  auto& plan = plans[n_fft];
  if (!plan) plan = std::make_shared<const FrameSpectrum>(n_fft);
  return plan;
}

void FrameSpectrum::power(const float* x, int64_t frames, int64_t hop, float* out,
                          int64_t out_stride) const {
  const Plan& plan = *plan_;
  const int64_t m = plan.m;
  // a, b: ping-pong buffers of m complex values (split re/im); work: odd-radix pairs; pw: powers.
  // 64-byte aligned: the AVX2 clone of block_power assumes sizeof(V) alignment, which operator new
  // does not promise for V in code built for the baseline.
  const auto count = static_cast<std::size_t>(4 * m + 4 * plan.max_half + m + 1);
  std::unique_ptr<V, decltype(&std::free)> buffer(
      static_cast<V*>(std::aligned_alloc(64, (count * sizeof(V) + 63) / 64 * 64)), &std::free);
  if (!buffer) throw std::bad_alloc();
  V *a_re = buffer.get(), *a_im = a_re + m, *b_re = a_im + m, *b_im = b_re + m;
  V *work = b_im + m, *pw = work + 4 * plan.max_half;
  const float* w = plan.window.data();
  for (int64_t t0 = 0; t0 < frames; t0 += kLanes) {
    const int64_t lanes = std::min(kLanes, frames - t0);
    // Frame t0 + l in lane l as z_k = w[2k] x[2k] + i w[2k+1] x[2k+1] (a real FFT of n from a
    // complex one of n / 2).
    const float* f[kLanes];
    for (int64_t l = 0; l < kLanes; ++l) f[l] = x + (t0 + std::min(l, lanes - 1)) * hop;
    for (int64_t k = 0; k < m; ++k) {
      for (int64_t l = 0; l < kLanes; ++l) {
        a_re[k][l] = w[2 * k] * f[l][2 * k];
        a_im[k][l] = w[2 * k + 1] * f[l][2 * k + 1];
      }
    }
    block_power(plan, a_re, a_im, b_re, b_im, work, pw);
    for (int64_t k = 0; k <= m; ++k) {
      float* dst = out + k * out_stride + t0;
      for (int64_t l = 0; l < lanes; ++l) dst[l] = pw[k][l];
    }
  }
}

}  // namespace mmfuse::data::audio
