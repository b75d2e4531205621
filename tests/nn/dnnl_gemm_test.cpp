// oneDNN matrix products equal LibTorch's (reference BLAS) within float rounding, alone and behind
// aten::mm / aten::addmm while a DnnlGemm lives (Linear forward and backward included).
#include "mmfuse/nn/dnnl_gemm.h"

#include <gtest/gtest.h>

#include "mmfuse/core/error.h"

namespace mmfuse::nn {
namespace {

// max |a - b| relative to max |b| (products of 100s of terms: rounding grows with K).
double rel_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>() / std::max(1e-12, b.abs().max().item<double>());
}

// LibTorch's own product in double precision, the reference for both float paths.
torch::Tensor reference_mm(const torch::Tensor& a, const torch::Tensor& b) {
  return torch::mm(a.to(torch::kDouble), b.to(torch::kDouble)).to(torch::kFloat);
}

TEST(DnnlGemm, ProductEqualsLibTorchForAnyStrides) {
  torch::manual_seed(0);
  for (auto [m, k, n] : {std::tuple{40, 2425, 100}, {1, 240, 100}, {7, 3, 5}, {100, 40, 2425}}) {
    auto a = torch::randn({m, k}), b = torch::randn({k, n});
    auto at = torch::randn({k, m}).t(), bt = torch::randn({n, k}).t();  // transposed operands
    EXPECT_LT(rel_diff(dnnl_mm(a, b), reference_mm(a, b)), 1e-5) << m << "x" << k << "x" << n;
    EXPECT_LT(rel_diff(dnnl_mm(at, bt), reference_mm(at, bt)), 1e-5) << m << "x" << k << "x" << n;
    auto bias = torch::randn({n});
    EXPECT_LT(rel_diff(dnnl_mm_bias(a, bt, bias), reference_mm(a, bt) + bias), 1e-5);
  }
}

TEST(DnnlGemm, RejectsWhatItCannotRun) {
  EXPECT_THROW(dnnl_mm(torch::randn({2, 3}), torch::randn({4, 5})), c10::Error);
  EXPECT_THROW(dnnl_mm(torch::randn({2, 3}, torch::kDouble), torch::randn({3, 5})), c10::Error);
}

TEST(DnnlGemm, LinearForwardAndBackwardEqualLibTorch) {
  torch::manual_seed(1);
  torch::nn::Linear linear(2425, 100);
  auto x = torch::rand({40, 2425});
  auto run = [&] {
    linear->zero_grad();
    auto xg = x.clone().requires_grad_(true);
    auto y = linear(xg);
    (y * y).sum().backward();
    return std::vector<torch::Tensor>{y.detach(), xg.grad(), linear->weight.grad().clone(),
                                      linear->bias.grad().clone()};
  };
  auto plain = run();
  std::vector<torch::Tensor> fast;
  {
    DnnlGemm gemm;
    fast = run();
  }
  const char* names[] = {"output", "input grad", "weight grad", "bias grad"};
  for (std::size_t i = 0; i < plain.size(); ++i) {
    EXPECT_LT(rel_diff(fast[i], plain[i]), 1e-5) << names[i];
  }
  auto again = run();  // LibTorch's kernels are back once the DnnlGemm is gone
  for (std::size_t i = 0; i < plain.size(); ++i) EXPECT_TRUE(torch::equal(again[i], plain[i]));
}

TEST(DnnlGemm, OtherCasesKeepLibTorchKernels) {
  torch::manual_seed(2);
  auto a = torch::randn({6, 4}, torch::kDouble), b = torch::randn({4, 3}, torch::kDouble);
  auto self = torch::randn({6, 3});
  auto af = a.to(torch::kFloat), bf = b.to(torch::kFloat);
  auto want_double = torch::mm(a, b);
  auto want_addmm = torch::addmm(self, af, bf, 0.5, 2.0);
  auto want_empty = torch::mm(torch::randn({0, 4}), bf);
  DnnlGemm gemm;
  EXPECT_TRUE(torch::allclose(torch::mm(a, b), want_double));                      // double
  EXPECT_TRUE(torch::allclose(torch::addmm(self, af, bf, 0.5, 2.0), want_addmm));  // alpha, beta
  EXPECT_EQ(torch::mm(torch::randn({0, 4}), bf).sizes(), want_empty.sizes());      // empty
  EXPECT_THROW(DnnlGemm second, Error);                                            // one at a time
}

// Shared handles: one registration while any is held (a second direct one is refused then), none
// once the last is released.
TEST(DnnlGemm, SharedHandlesRegisterOnceUntilTheLastIsReleased) {
  auto a = acquire_dnnl_gemm();
  auto b = acquire_dnnl_gemm();
  EXPECT_EQ(a.get(), b.get());
  EXPECT_THROW(DnnlGemm direct, Error);
  a.reset();
  EXPECT_THROW(DnnlGemm direct, Error);  // b still holds it
  b.reset();
  EXPECT_NO_THROW(DnnlGemm direct);
  auto c = acquire_dnnl_gemm();  // registers anew
  EXPECT_THROW(DnnlGemm direct, Error);
}

}  // namespace
}  // namespace mmfuse::nn
