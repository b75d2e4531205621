#include "mmfuse/runtime/plan_pool.h"

#include <ATen/Parallel.h>

#include <vector>

#include "mmfuse/core/simd.h"

namespace mmfuse::runtime {

namespace {

constexpr int64_t kBlock = 8;  // channels per nChw8c block

// One output row of one channel block: ow vectors of 8 lanes from two input rows.
MMFUSE_SIMD_CLONES
void pool_row(const float* __restrict r0, const float* __restrict r1, float* __restrict out,
              int64_t ow) {
  for (int64_t j = 0; j < ow; ++j) {
    const float* a = r0 + 2 * j * kBlock;
    const float* b = r1 + 2 * j * kBlock;
    float* o = out + j * kBlock;
    for (int64_t l = 0; l < kBlock; ++l) {
      const float top = a[l] < a[kBlock + l] ? a[kBlock + l] : a[l];
      const float bottom = b[l] < b[kBlock + l] ? b[kBlock + l] : b[l];
      o[l] = top < bottom ? bottom : top;
    }
  }
}

// One output row of u8 codes: the two input rows' maximum (w * c bytes, one vector loop), then
// each output pixel the maximum of two neighbouring pixels of it.
MMFUSE_SIMD_CLONES
void pool_row_u8(const uint8_t* __restrict r0, const uint8_t* __restrict r1,
                 uint8_t* __restrict rows, uint8_t* __restrict out, int64_t ow, int64_t c) {
  const int64_t n = 2 * ow * c;
  for (int64_t k = 0; k < n; ++k) rows[k] = r0[k] < r1[k] ? r1[k] : r0[k];
  for (int64_t j = 0; j < ow; ++j) {
    const uint8_t* a = rows + 2 * j * c;
    for (int64_t l = 0; l < c; ++l) out[j * c + l] = a[l] < a[c + l] ? a[c + l] : a[l];
  }
}

}  // namespace

void max_pool2x2_nhwc_u8(const uint8_t* src, uint8_t* dst, int64_t n, int64_t h, int64_t w,
                         int64_t c) {
  const int64_t oh = h / 2, ow = w / 2;
  const int64_t row = w * c, out_row = ow * c;
  at::parallel_for(0, n * oh, 16, [&](int64_t r0, int64_t r1) {
    std::vector<uint8_t> rows(static_cast<std::size_t>(2 * ow * c));
    for (int64_t r = r0; r < r1; ++r) {  // r = sample * oh + i
      const int64_t b = r / oh, i = r % oh;
      const uint8_t* in = src + (b * h + 2 * i) * row;
      pool_row_u8(in, in + row, rows.data(), dst + r * out_row, ow, c);
    }
  });
}

void max_pool2x2_nchw8c(const float* src, float* dst, int64_t blocks, int64_t h, int64_t w) {
  const int64_t oh = h / 2, ow = w / 2;
  const int64_t row = w * kBlock, out_row = ow * kBlock;
  at::parallel_for(0, blocks * oh, 64, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {  // r = block * oh + i
      const int64_t b = r / oh, i = r % oh;
      const float* in = src + (b * h + 2 * i) * row;
      pool_row(in, in + row, dst + r * out_row, ow);
    }
  });
}

}  // namespace mmfuse::runtime
