// Host kernels of the compiled cross-attention fusion (plan_cross_attention.cpp): attention over
// a sample's valid keys, residual + LayerNorm + masked mean, and which branches are valid. They
// work on one piece of samples whose projections oneDNN has computed (rows b * T_j + t).
#pragma once

#include <cstdint>
#include <vector>

namespace mmfuse::runtime {

// Shapes of one call: modality sizes and where branch i's keys and values sit in P_j.
struct XattnLayout {
  int64_t m = 0, d = 0, heads = 0, hd = 0, width = 0;  // width: columns of every P_j
  int64_t keys_max = 0, lanes_max = 0;                 // sum of T_j; max T_j rounded up to 8
  std::vector<int64_t> tokens;                         // T_j
  std::vector<std::vector<int64_t>> kv;                // kv[j][i]: K of branch i in P_j (V at + d)
};

// One piece's buffers (rows b * T_j + t) and masks (null: all true).
struct XattnPiece {
  std::vector<float*> p, x, a, ctx;  // P_j [n T_j, width]; X_j, A_j, ctx_j [n T_j, d]
  std::vector<const bool*> mask;     // token mask of j [n, T_j]
  std::vector<const bool*> present;  // presence of j [n]
  std::vector<uint8_t> valid;        // [n, m]: branch i of sample b has queries and keys
  bool real(int64_t j, int64_t b, int64_t t, int64_t tj) const {
    return !mask[j] || mask[j][b * tj + t];
  }
  bool here(int64_t j, int64_t b) const { return !present[j] || present[j][b]; }
};

// A thread's work space for xattn_attend: one sample's keys, values, queries and scores.
struct XattnScratch {
  explicit XattnScratch(const XattnLayout& l)
      : k(l.keys_max * l.d),
        v(k.size()),
        qt(l.hd * l.lanes_max),
        st(l.keys_max * l.lanes_max),
        mx(l.lanes_max),
        sum(mx.size()),
        rows(mx.size()) {}
  std::vector<float> k, v, qt, st, mx, sum;
  std::vector<int64_t> rows;
};

/// Which branches of the piece's n samples are valid: branch i of sample b when i is present with
/// a real token and some other modality has a valid key (the module's `valid`; else missing_i).
void xattn_mark_valid(const XattnLayout& l, int64_t n, XattnPiece& x);

/// Branch i of sample b: its ctx rows (zero for padded queries) = per head softmax(Q K^T) V over
/// the valid tokens of the other modalities; nothing for an invalid branch.
void xattn_attend(const XattnLayout& l, const XattnPiece& x, int64_t b, int64_t i, XattnScratch& s);

/// Branch i of sample b: z [d] = the mean over its real query tokens of LayerNorm(X_i + A_i)
/// (gamma, beta, eps), or `missing` [d] for an invalid branch. Needs d <= 1024.
void xattn_pool(const XattnLayout& l, const XattnPiece& x, int64_t b, int64_t i, const float* gamma,
                const float* beta, double eps, const float* missing, float* z);

}  // namespace mmfuse::runtime
