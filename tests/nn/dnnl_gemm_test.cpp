// oneDNN matrix products equal LibTorch's (reference BLAS) within float rounding, alone and behind
// aten::mm / aten::addmm / aten::bmm while a DnnlGemm lives (Linear and attention forward and
// backward included).
#include "mmfuse/nn/dnnl_gemm.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <thread>

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

// Batched products (attention's q·kᵀ and p·v, and their gradients through transposed views) go to
// oneDNN too; tiny ones stay with LibTorch.
TEST(DnnlGemm, BatchedProductsRunOnOneDnnAndEqualLibTorch) {
  torch::manual_seed(3);
  auto q = torch::randn({40, 90, 16}), kv = torch::randn({40, 16, 12}).transpose(1, 2);
  auto small_a = torch::randn({40, 480}), small_b = torch::randn({480, 100});
  auto tiny_a = torch::randn({2, 3}), tiny_b = torch::randn({3, 2});
  auto want_bmm = torch::bmm(q.to(torch::kDouble), kv.transpose(1, 2).to(torch::kDouble));
  auto want_small = reference_mm(small_a, small_b);
  auto want_tiny = torch::mm(tiny_a, tiny_b);
  DnnlGemm gemm;
  int64_t before = dnnl_products_run();
  EXPECT_LT(rel_diff(torch::bmm(q, kv.transpose(1, 2)), want_bmm.to(torch::kFloat)), 1e-5);
  EXPECT_EQ(dnnl_products_run(), before + 1);  // [40, 90, 16] x [40, 16, 12], strided
  EXPECT_LT(rel_diff(torch::mm(small_a, small_b), want_small), 1e-5);
  EXPECT_EQ(dnnl_products_run(), before + 2);  // 1,920,000 multiply-adds
  EXPECT_TRUE(torch::equal(torch::mm(tiny_a, tiny_b), want_tiny));
  EXPECT_EQ(dnnl_products_run(), before + 2);  // 12 multiply-adds: LibTorch's kernel

  // no unit stride in either dimension of either operand: oneDNN has only its reference
  // implementation (far slower than LibTorch's), so LibTorch runs it
  auto sparse_a = torch::randn({40, 180, 32}).slice(1, 0, 180, 2).slice(2, 0, 32, 2);
  auto sparse_b = torch::randn({40, 32, 24}).slice(1, 0, 32, 2).slice(2, 0, 24, 2);
  auto want_sparse = torch::bmm(sparse_a.to(torch::kDouble), sparse_b.to(torch::kDouble));
  EXPECT_LT(rel_diff(torch::bmm(sparse_a, sparse_b), want_sparse.to(torch::kFloat)), 1e-5);
  EXPECT_EQ(dnnl_products_run(), before + 2);
}

TEST(DnnlGemm, AttentionForwardAndBackwardEqualLibTorch) {
  torch::manual_seed(4);
  torch::nn::MultiheadAttention attention(torch::nn::MultiheadAttentionOptions(64, 4));
  auto x = torch::randn({32, 40, 64});  // [T, B, E]: q·kᵀ is [160, 32, 16] x [160, 16, 32]
  auto run = [&] {
    attention->zero_grad();
    auto xg = x.clone().requires_grad_(true);
    auto y = std::get<0>(attention(xg, xg, xg));
    (y * y).sum().backward();
    return std::vector<torch::Tensor>{y.detach(), xg.grad(), attention->in_proj_weight.grad()};
  };
  auto plain = run();
  std::vector<torch::Tensor> fast;
  int64_t products = 0;
  {
    DnnlGemm gemm;
    const int64_t before = dnnl_products_run();
    fast = run();
    products = dnnl_products_run() - before;
  }
  EXPECT_GE(products, 6);  // q·kᵀ, p·v and their gradients are batched products
  const char* names[] = {"output", "input grad", "in_proj weight grad"};
  for (std::size_t i = 0; i < plain.size(); ++i) {
    EXPECT_LT(rel_diff(fast[i], plain[i]), 1e-5) << names[i];
  }
}

// In a SmallProductsOnDnnl scope (a training step) products of 2^11 to 2^18 multiply-adds run on
// oneDNN at one thread, forward and backward; outside it, and below 2^11, LibTorch's kernel runs,
// bit for bit as without a DnnlGemm. The scope is the calling thread's and leaves its OpenMP
// threads as they were.
TEST(DnnlGemm, SmallProductsRunOnOneDnnOnlyInsideTheScope) {
  torch::manual_seed(5);
  torch::nn::Linear head(100, 10);  // [40, 100] x [100, 10]: 40,000 multiply-adds
  auto x = torch::rand({40, 100});
  auto tiny_a = torch::randn({4, 8}), tiny_b = torch::randn({8, 4});  // 128 multiply-adds
  auto run = [&] {
    head->zero_grad();
    auto xg = x.clone().requires_grad_(true);
    auto y = head(xg);
    (y * y).sum().backward();
    return std::vector<torch::Tensor>{y.detach(), xg.grad(), head->weight.grad().clone()};
  };
  const auto plain = run();
  const auto want_tiny = torch::mm(tiny_a, tiny_b);
  const int threads = omp_get_max_threads();
  DnnlGemm gemm;
  int64_t before = dnnl_products_run();
  const auto outside = run();
  EXPECT_EQ(dnnl_products_run(), before);
  for (std::size_t i = 0; i < plain.size(); ++i) EXPECT_TRUE(torch::equal(outside[i], plain[i]));

  std::vector<torch::Tensor> inside;
  {
    SmallProductsOnDnnl scope;
    before = dnnl_products_run();
    inside = run();
    EXPECT_EQ(dnnl_products_run(), before + 3);  // output, input gradient, weight gradient
    EXPECT_TRUE(torch::equal(torch::mm(tiny_a, tiny_b), want_tiny));
    EXPECT_EQ(dnnl_products_run(), before + 3);  // under 2^11: LibTorch's kernel
    EXPECT_EQ(omp_get_max_threads(), threads);
    std::thread other([&] {
      const int64_t at_start = dnnl_products_run();
      auto y = head(x);
      EXPECT_EQ(dnnl_products_run(), at_start);  // not in a scope on this thread
    });
    other.join();
  }
  const char* names[] = {"output", "input grad", "weight grad"};
  for (std::size_t i = 0; i < plain.size(); ++i) {
    EXPECT_LT(rel_diff(inside[i], plain[i]), 1e-5) << names[i];
  }
  before = dnnl_products_run();
  const auto after = run();  // the scope is gone: LibTorch's kernel again
  EXPECT_EQ(dnnl_products_run(), before);
  for (std::size_t i = 0; i < plain.size(); ++i) EXPECT_TRUE(torch::equal(after[i], plain[i]));
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
