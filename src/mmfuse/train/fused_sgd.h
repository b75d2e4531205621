// SGD as LibTorch's torch::optim::SGD (the same options, state and checkpoints; momentum,
// dampening, weight decay, Nesterov), with each float32 parameter updated in one pass over its
// value, gradient and momentum buffer instead of LibTorch's four to five tensor operations per
// parameter (each a dispatch, and for weight decay an allocation). On a LeNet's 16 small
// parameters those operations cost more than the arithmetic: a tenth of a training step.
//
// The result is bit for bit LibTorch's: the same roundings in the same order (its vectorised add
// with a factor is a fused multiply-add). Parameters that are not dense contiguous float32 CPU
// tensors take LibTorch's operations.
#pragma once

#include <torch/torch.h>

#include <vector>

namespace mmfuse::train {

/// The update loop: compiled for AVX-512 or AVX2 with FMA (chosen by what the CPU reports), or
/// plain (std::fma, a library call per element) on CPUs without FMA. All give the same bits.
enum class FusedSgdLoop { automatic, plain, avx2, avx512 };

/// The loops this CPU can run (plain first), for tests.
std::vector<FusedSgdLoop> fused_sgd_loops();
/// Tests: run `loop` from now on (one of fused_sgd_loops()), or the CPU's best (automatic).
void set_fused_sgd_loop(FusedSgdLoop loop);

class FusedSGD : public torch::optim::SGD {
 public:
  using torch::optim::SGD::SGD;

  /// One update of every parameter with a gradient (as torch::optim::SGD::step).
  torch::Tensor step(LossClosure closure = nullptr) override;
};

}  // namespace mmfuse::train
