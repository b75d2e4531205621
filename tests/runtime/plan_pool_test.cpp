// The lenet plan's 2x2 max-pooling on nChw8c maps (runtime/plan_pool.h) against LibTorch's
// max_pool2d on the same values in NCHW: odd heights and widths (floor), channel counts that are
// not a multiple of 8 (padded lanes), several blocks and samples, called inside and outside a
// parallel region.
#include <gtest/gtest.h>

#include <ATen/Parallel.h>
#include <torch/torch.h>

#include "mmfuse/runtime/plan_pool.h"

namespace mmfuse::runtime {
namespace {

// [N, C, H, W] -> [N, ceil(C / 8), H, W, 8] with zeros in the padded channels (nChw8c).
torch::Tensor to_nchw8c(const torch::Tensor& x) {
  const int64_t n = x.size(0), c = x.size(1), blocks = (c + 7) / 8;
  torch::Tensor padded = torch::zeros({n, blocks * 8, x.size(2), x.size(3)});
  padded.narrow(1, 0, c).copy_(x);
  return padded.reshape({n, blocks, 8, x.size(2), x.size(3)}).permute({0, 1, 3, 4, 2}).contiguous();
}

torch::Tensor from_nchw8c(const torch::Tensor& y, int64_t c) {
  const int64_t n = y.size(0), blocks = y.size(1);
  return y.permute({0, 1, 4, 2, 3}).reshape({n, blocks * 8, y.size(2), y.size(3)}).narrow(1, 0, c);
}

torch::Tensor pool(const torch::Tensor& x) {  // x: [N, C, H, W]
  const torch::Tensor src = to_nchw8c(x);
  const int64_t n = x.size(0), blocks = src.size(1), h = x.size(2), w = x.size(3);
  torch::Tensor dst = torch::full({n, blocks, h / 2, w / 2, 8}, -7.0f);
  max_pool2x2_nchw8c(src.data_ptr<float>(), dst.data_ptr<float>(), n * blocks, h, w);
  // Padded lanes hold the maximum of zeros.
  if (x.size(1) % 8 != 0) {
    const torch::Tensor pad = dst.narrow(4, x.size(1) % 8, 8 - x.size(1) % 8);
    EXPECT_EQ(pad.narrow(1, blocks - 1, 1).abs().max().item<float>(), 0.0f);
  }
  return from_nchw8c(dst, x.size(1));
}

TEST(PlanPool, EqualsMaxPool2dOnOddSizesAndPaddedChannels) {
  torch::manual_seed(3);
  for (auto dims : std::vector<std::vector<int64_t>>{{1, 6, 112, 112},
                                                     {2, 12, 7, 7},
                                                     {3, 8, 5, 9},
                                                     {1, 20, 3, 3},
                                                     {4, 1, 2, 2},
                                                     {2, 96, 7, 6}}) {
    const torch::Tensor x = torch::randn(dims);
    const torch::Tensor want = torch::max_pool2d(x, 2, 2);
    const torch::Tensor got = pool(x);
    ASSERT_EQ(got.sizes(), want.sizes()) << x.sizes();
    EXPECT_TRUE(torch::equal(got, want)) << x.sizes();  // a maximum is exact
  }
}

TEST(PlanPool, SameResultInsideAParallelRegionAndOnSeveralThreads) {
  torch::manual_seed(4);
  const torch::Tensor x = torch::randn({6, 12, 28, 28});
  const torch::Tensor want = torch::max_pool2d(x, 2, 2);
  const int threads = at::get_num_threads();
  at::set_num_threads(2);
  EXPECT_TRUE(torch::equal(pool(x), want));
  at::parallel_for(0, 2, 1, [&](int64_t, int64_t) { EXPECT_TRUE(torch::equal(pool(x), want)); });
  at::set_num_threads(threads);
}

TEST(PlanPool, U8NhwcEqualsMaxPool2dOnOddSizesAndFewChannels) {
  torch::manual_seed(4);
  for (auto dims : std::vector<std::vector<int64_t>>{
           {1, 6, 112, 112}, {3, 12, 7, 9}, {2, 1, 5, 5}, {1, 20, 3, 3}, {2, 96, 7, 6}}) {
    const torch::Tensor x = torch::randint(0, 128, dims, torch::kInt32);  // [N, C, H, W] codes
    const torch::Tensor want = torch::max_pool2d(x.to(torch::kFloat), 2, 2).to(torch::kByte);
    const torch::Tensor src = x.to(torch::kByte).permute({0, 2, 3, 1}).contiguous();  // NHWC
    torch::Tensor dst =
        torch::full({dims[0], dims[2] / 2, dims[3] / 2, dims[1]}, 255, torch::kByte);
    max_pool2x2_nhwc_u8(src.data_ptr<uint8_t>(), dst.data_ptr<uint8_t>(), dims[0], dims[2], dims[3],
                        dims[1]);
    EXPECT_TRUE(dst.permute({0, 3, 1, 2}).equal(want)) << x.sizes();
  }
}

}  // namespace
}  // namespace mmfuse::runtime
