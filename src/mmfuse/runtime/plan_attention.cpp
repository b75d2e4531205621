// The kernels take a sample's query tokens as lanes of 8 floats (GCC vector extensions), so one
// loop computes 8 queries' scores, softmax and context; the dot products over the head size and
// over the keys accumulate in registers, several keys or columns at a time.
#include "mmfuse/runtime/plan_attention.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

namespace mmfuse::runtime {

namespace {

// e^x for x in [-80, 0] (Cephes' expf polynomial, ~1e-7 relative), branch-free so that loops of
// it vectorize: n = round(x / ln 2) by the 1.5 * 2^23 shift, whose low bits then give 2^n.
[[gnu::always_inline]] inline float xattn_exp(float x) {
  const float shifted = x * 1.44269504088896341f + 12582912.f;
  const float n = shifted - 12582912.f;
  const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  int32_t bits;
  std::memcpy(&bits, &shifted, sizeof bits);
  bits = (bits - 0x4B400000 + 127) << 23;  // 2^n
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return (p * r * r + r + 1.f) * scale;
}

// Eight float lanes (GCC vector extension: one AVX register, or two SSE ones), unaligned.
typedef float XaVec __attribute__((vector_size(32), aligned(4), __may_alias__));

[[gnu::always_inline]] inline XaVec& xa_lanes(float* p) {
  return *reinterpret_cast<XaVec*>(p);
}
[[gnu::always_inline]] inline const XaVec& xa_lanes(const float* p) {
  return *reinterpret_cast<const XaVec*>(p);
}

// Scores of R keys (rows of k [S, d], from the head's first column) for 8 query lanes of
// qt [hd, lanes]: st[r][lane] = k_r . q_lane, accumulated in registers.
template <int R>
[[gnu::always_inline]] inline void scores_block(const XattnLayout& l, const float* k,
                                                const float* qt, int64_t lanes, float* st) {
  XaVec acc[R] = {};
  for (int64_t c = 0; c < l.hd; ++c) {
    const XaVec q = xa_lanes(qt + c * lanes);
    for (int r = 0; r < R; ++r) acc[r] += k[r * l.d + c] * q;
  }
  for (int r = 0; r < R; ++r) xa_lanes(st + r * lanes) = acc[r];
}

// C columns of the context for nl <= 8 query lanes: ctx[row_q][c] = sum_r e[r][q] v[r][c] / sum_q.
template <int C>
[[gnu::always_inline]] inline void context_block(const XattnLayout& l, int64_t keys, const float* v,
                                                 const float* e, int64_t lanes, const float* sum,
                                                 const int64_t* rows, int64_t nl, float* ctx) {
  XaVec acc[C] = {};
  for (int64_t r = 0; r < keys; ++r) {
    const XaVec p = xa_lanes(e + r * lanes);
    for (int c = 0; c < C; ++c) acc[c] += v[r * l.d + c] * p;
  }
  for (int64_t q = 0; q < nl; ++q) {
    for (int c = 0; c < C; ++c) ctx[rows[q] * l.d + c] = acc[c][q] / sum[q];
  }
}

// Branch i of sample b: ctx rows of b (zero for padded queries) = per head softmax(Q K^T) V over
// the valid tokens of the other modalities. Queries are lanes: Q^T [hd, L], scores [S, L].
[[gnu::always_inline]] inline void attend_body(const XattnLayout& l, const XattnPiece& x, int64_t b,
                                               int64_t i, XattnScratch& s) {
  const int64_t d = l.d, hd = l.hd, ti = l.tokens[i];
  float* ctx = x.ctx[i] + b * ti * d;  // [T_i, d]
  std::fill(ctx, ctx + ti * d, 0.f);
  if (!x.valid[b * l.m + i]) return;
  int64_t keys = 0;  // K, V [S, d]: the valid tokens of the other modalities
  for (int64_t j = 0; j < l.m; ++j) {
    if (j == i || !x.here(j, b)) continue;
    for (int64_t t = 0; t < l.tokens[j]; ++t) {
      if (!x.real(j, b, t, l.tokens[j])) continue;
      const float* row = x.p[j] + (b * l.tokens[j] + t) * l.width + l.kv[j][i];
      std::copy(row, row + d, s.k.data() + keys * d);
      std::copy(row + d, row + 2 * d, s.v.data() + keys * d);
      ++keys;
    }
  }
  int64_t nq = 0;
  for (int64_t t = 0; t < ti; ++t) {
    if (x.real(i, b, t, ti)) s.rows[nq++] = t;
  }
  const int64_t lanes = (nq + 7) / 8 * 8;
  float* __restrict qt = s.qt.data(), * __restrict st = s.st.data();
  float* __restrict mx = s.mx.data(), * __restrict sum = s.sum.data();
  for (int64_t h = 0; h < l.heads; ++h) {
    const int64_t c0 = h * hd;
    std::fill(qt, qt + hd * lanes, 0.f);
    for (int64_t q = 0; q < nq; ++q) {
      const float* row = x.p[i] + (b * ti + s.rows[q]) * l.width + c0;  // scaled queries
      for (int64_t c = 0; c < hd; ++c) qt[c * lanes + q] = row[c];
    }
    for (int64_t q0 = 0; q0 < lanes; q0 += 8) {  // scores [S, L], four keys at a time
      const float* k = s.k.data() + c0;
      int64_t r = 0;
      for (; r + 4 <= keys; r += 4)
        scores_block<4>(l, k + r * d, qt + q0, lanes, st + r * lanes + q0);
      for (; r < keys; ++r) scores_block<1>(l, k + r * d, qt + q0, lanes, st + r * lanes + q0);
    }
    std::copy(st, st + lanes, mx);
    for (int64_t r = 1; r < keys; ++r) {
      for (int64_t q = 0; q < lanes; ++q) mx[q] = std::max(mx[q], st[r * lanes + q]);
    }
    for (int64_t r = 0; r < keys; ++r) {  // e^-80 is nothing next to the max's 1
      for (int64_t q = 0; q < lanes; ++q) {
        const float v = st[r * lanes + q] - mx[q];
        st[r * lanes + q] = v < -80.f ? -80.f : v;
      }
    }
    std::fill(sum, sum + lanes, 0.f);
    for (int64_t r = 0; r < keys; ++r) {
      for (int64_t q = 0; q < lanes; ++q) {
        st[r * lanes + q] = xattn_exp(st[r * lanes + q]);
        sum[q] += st[r * lanes + q];
      }
    }
    for (int64_t q0 = 0; q0 < nq; q0 += 8) {  // ctx = probabilities . V, four columns at a time
      const int64_t nl = std::min<int64_t>(8, nq - q0), *rows = s.rows.data() + q0;
      const float *v = s.v.data() + c0, *e = st + q0;
      int64_t c = 0;
      for (; c + 4 <= hd; c += 4) {
        context_block<4>(l, keys, v + c, e, lanes, sum + q0, rows, nl, ctx + c0 + c);
      }
      for (; c < hd; ++c)
        context_block<1>(l, keys, v + c, e, lanes, sum + q0, rows, nl, ctx + c0 + c);
    }
  }
}

// Branch i of sample b: z_i = mean over the real query tokens of LayerNorm(X_i + A_i).
[[gnu::always_inline]] inline void pool_body(const XattnLayout& l, const XattnPiece& x, int64_t b,
                                             int64_t i, const float* gamma, const float* beta,
                                             double eps, const float* missing, float* z) {
  const int64_t d = l.d, ti = l.tokens[i];
  if (!x.valid[b * l.m + i]) {
    std::copy(missing, missing + d, z);
    return;
  }
  std::fill(z, z + d, 0.f);
  float v[1024];  // d <= 1024 (checked at compile time)
  int64_t count = 0;
  for (int64_t t = 0; t < ti; ++t) {
    if (!x.real(i, b, t, ti)) continue;
    const float* xr = x.x[i] + (b * ti + t) * d;
    const float* ar = x.a[i] + (b * ti + t) * d;
    float part[8] = {};  // eight partial sums: the reductions vectorize
    for (int64_t k = 0; k < d; ++k) v[k] = xr[k] + ar[k], part[k % 8] += v[k];
    float mean = 0.f;
    for (float p : part) mean += p;
    mean /= static_cast<float>(d);
    std::fill(part, part + 8, 0.f);
    for (int64_t k = 0; k < d; ++k) v[k] -= mean, part[k % 8] += v[k] * v[k];
    float var = 0.f;
    for (float p : part) var += p;
    const float rstd = 1.f / std::sqrt(var / static_cast<float>(d) + static_cast<float>(eps));
    for (int64_t k = 0; k < d; ++k) z[k] += v[k] * rstd * gamma[k] + beta[k];
    ++count;
  }
  for (int64_t k = 0; k < d; ++k) z[k] /= static_cast<float>(std::max<int64_t>(count, 1));
}

// Each kernel for AVX2 + FMA and for the baseline ISA on x86-64 (the CPU is asked once); the
// baseline only elsewhere.
void attend_plain(const XattnLayout& l, const XattnPiece& x, int64_t b, int64_t i,
                  XattnScratch& s) {
  attend_body(l, x, b, i, s);
}
void pool_plain(const XattnLayout& l, const XattnPiece& x, int64_t b, int64_t i, const float* g,
                const float* be, double eps, const float* miss, float* z) {
  pool_body(l, x, b, i, g, be, eps, miss, z);
}
#if defined(__GNUC__) && defined(__x86_64__)
[[gnu::target("avx2,fma")]] void attend_avx2(const XattnLayout& l, const XattnPiece& x, int64_t b,
                                             int64_t i, XattnScratch& s) {
  attend_body(l, x, b, i, s);
}
[[gnu::target("avx2,fma")]] void pool_avx2(const XattnLayout& l, const XattnPiece& x, int64_t b,
                                           int64_t i, const float* g, const float* be, double eps,
                                           const float* miss, float* z) {
  pool_body(l, x, b, i, g, be, eps, miss, z);
}
bool xattn_avx2() {
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return yes;
}
#else
constexpr auto attend_avx2 = attend_plain;
constexpr auto pool_avx2 = pool_plain;
constexpr bool xattn_avx2() {
  return false;
}
#endif

}  // namespace

void xattn_mark_valid(const XattnLayout& l, int64_t n, XattnPiece& x) {
  std::vector<uint8_t> any(n * l.m, 0);  // [n, m]: j present with a real token
  for (int64_t b = 0; b < n; ++b) {
    for (int64_t j = 0; j < l.m; ++j) {
      for (int64_t t = 0; t < l.tokens[j] && !any[b * l.m + j]; ++t) {
        any[b * l.m + j] = x.here(j, b) && x.real(j, b, t, l.tokens[j]);
      }
    }
  }
  x.valid = any;
  for (int64_t b = 0; b < n; ++b) {
    const int64_t with_keys = std::accumulate(&any[b * l.m], &any[b * l.m] + l.m, int64_t{0});
    for (int64_t i = 0; i < l.m; ++i) x.valid[b * l.m + i] &= with_keys > 1;
  }
}

void xattn_attend(const XattnLayout& l, const XattnPiece& x, int64_t b, int64_t i,
                  XattnScratch& s) {
  (xattn_avx2() ? attend_avx2 : attend_plain)(l, x, b, i, s);
}

void xattn_pool(const XattnLayout& l, const XattnPiece& x, int64_t b, int64_t i, const float* gamma,
                const float* beta, double eps, const float* missing, float* z) {
  (xattn_avx2() ? pool_avx2 : pool_plain)(l, x, b, i, gamma, beta, eps, missing, z);
}

}  // namespace mmfuse::runtime
