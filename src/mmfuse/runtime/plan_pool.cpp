#include "mmfuse/runtime/plan_pool.h"

#include <ATen/Parallel.h>

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

}  // namespace

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
