// oneDNN matrix products for LibTorch's dense layers.
//
// Debian's LibTorch 1.13 runs aten::mm / aten::addmm / aten::bmm (Linear forward and backward,
// matmul, attention) on the reference BLAS (about 1-7 GFLOP/s here); oneDNN, which the same
// LibTorch already links for its convolutions, is several times faster on the same products.
// DnnlGemm puts oneDNN behind those three ops for float32 CPU tensors: while an instance lives,
// their CPU kernels are replaced (autograd is unchanged: backward calls aten::mm / aten::bmm
// again). Other dtypes, empty shapes, small products (< 2^18 multiply-adds, where oneDNN's per-call
// thread fork costs more than it saves; inside a SmallProductsOnDnnl scope only those under 2^11),
// strides for which oneDNN has only its reference
// implementation, and addmm with a general (non-bias) `self` or alpha != 1 keep LibTorch's
// kernels.
// Results equal LibTorch's within float rounding (a different summation order).
//
// The replacement is process-wide (LibTorch's dispatcher is): share it through
// acquire_dnnl_gemm() (the CLI and every run loaded by the runtime layer hold a handle), or
// construct one DnnlGemm in a test's scope, never two at a time.
#pragma once

#include <memory>

#include <torch/torch.h>

namespace mmfuse::nn {

/// a [M, K] x b [K, N] -> [M, N] with oneDNN (any strides; float32, CPU).
/// Requires: 2-D float32 CPU tensors with matching K.
torch::Tensor dnnl_mm(const torch::Tensor& a, const torch::Tensor& b);

/// a [M, K] x b [K, N] + bias [N] -> [M, N] with oneDNN (bias broadcast over rows).
torch::Tensor dnnl_mm_bias(const torch::Tensor& a, const torch::Tensor& b,
                           const torch::Tensor& bias);

class DnnlGemm;

/// While one lives on the calling thread, products of 2^11 to 2^18 multiply-adds also run on
/// oneDNN, at one thread (no OpenMP fork), instead of LibTorch's kernel: a training step's small
/// layers and their gradients (the trainer holds one around a step's forward and backward; CPU
/// backward runs on the calling thread). Inference does not hold one, so its outputs stay those of
/// LibTorch's kernels for these products whether or not a DnnlGemm is held. Nests; no effect
/// without a DnnlGemm.
class SmallProductsOnDnnl {
 public:
  SmallProductsOnDnnl();
  ~SmallProductsOnDnnl();
  SmallProductsOnDnnl(const SmallProductsOnDnnl&) = delete;
  SmallProductsOnDnnl& operator=(const SmallProductsOnDnnl&) = delete;
};

/// Products run by oneDNN so far in this process (dnnl_mm and the replacement kernels), for tests
/// and measurements.
int64_t dnnl_products_run();

/// A hook the int8 layers (nn/quant/hooks.h) install into the replacement kernels: it sees every
/// float32 product a [M, K] x b [K, N] (+ bias [N] when defined) first and returns its result, or
/// an undefined tensor to let the product run as usual. Null (the default): no hook.
using GemmHook = torch::Tensor (*)(const torch::Tensor& a, const torch::Tensor& b,
                                   const torch::Tensor& bias);
void set_gemm_hook(GemmHook hook);

/// Shared use of the replacement: the first live handle registers the oneDNN kernels, the last
/// one released restores LibTorch's. Any number of owners (the CLI, every loaded run of the
/// runtime layer, a test) may hold one at once; thread-safe. Fails (Error) only while a DnnlGemm
/// constructed directly is alive.
std::shared_ptr<const DnnlGemm> acquire_dnnl_gemm();

class DnnlGemm {
 public:
  /// Registers the oneDNN kernels for aten::mm, aten::addmm and aten::bmm (CPU). Throws Error when
  /// another DnnlGemm is alive.
  DnnlGemm();
  /// Restores LibTorch's own kernels.
  ~DnnlGemm();
  DnnlGemm(const DnnlGemm&) = delete;
  DnnlGemm& operator=(const DnnlGemm&) = delete;

 private:
  std::unique_ptr<torch::Library> library_;
};

}  // namespace mmfuse::nn
