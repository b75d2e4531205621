// Training form of BatchNorm2d -> ReLU -> MaxPool2d(2) (a LeNet block after its convolution) as
// one op with its own backward.
//
// LibTorch runs the three as five passes over the full-size activation in the forward (batch
// statistics, normalise, ReLU, pooling with int64 indices) and five in the backward (zero the
// pooling gradient, scatter into it, ReLU mask, two BatchNorm reductions and the input gradient);
// they were a third of an AV-MNIST training step (docs/BENCHMARKS.md, "Where the training time
// goes"). Here:
//   forward:  one pass for the per-channel moments, one that reads each 2x2 window, normalises it,
//             keeps the first maximum and writes the pooled value and a one-byte code (which of
//             the four positions, or "no gradient" when the maximum is <= 0);
//   backward: one pass over the pooled gradient for the two reductions (sum dy, sum dy * x_hat:
//             dy is zero except at the coded positions), one that writes the input gradient
//             dx = a * dy + p - q * x  (a = gamma * invstd; p, q per channel) over the full map.
// Same results as the three modules (the running statistics and num_batches_tracked included) up
// to float rounding; ties in a window go to the first position in row-major order, as MaxPool2d.
// Float32 on the CPU only; elsewhere (and with set_fused_blocks(false)) LeNet keeps the modules.
#pragma once

#include <torch/torch.h>

#include <utility>
#include <vector>

namespace mmfuse::encoders {

/// x [N, C, H, W] float32 CPU, bn over C in training mode ->
/// max_pool2d(relu(bn(x)), 2) [N, C, H / 2, W / 2] (an odd last row or column is pooled away but
/// still counts in the batch statistics). Updates bn's running statistics and
/// num_batches_tracked as BatchNorm2d's forward does. Differentiable in x, bn.weight, bn.bias
/// (first order).
torch::Tensor bn_relu_max_pool2(const torch::Tensor& x, torch::nn::BatchNorm2dImpl& bn);

/// running = (1 - f) * running + f * batch (the variance unbiased over `count` values) and
/// num_batches_tracked + 1, as BatchNorm2d's training forward (f: momentum, or the cumulative
/// average without one). Nothing when bn tracks no running statistics.
void update_bn_running_stats(torch::nn::BatchNorm2dImpl& bn, const std::vector<double>& mean,
                             const std::vector<double>& var, int64_t count);

/// Float32 tensors [C]: the batch mean and 1 / sqrt(var + eps).
std::pair<torch::Tensor, torch::Tensor> mean_and_invstd(const std::vector<double>& mean,
                                                        const std::vector<double>& var, double eps);

/// Whether bn_relu_max_pool2 applies to `x` (float32, CPU, 4-d, H and W >= 2, and fused blocks
/// switched on).
bool fused_block_applies(const torch::Tensor& x);

/// Switches the fused training blocks on (the default) or off for the whole process (the CLI's
/// --unfused-blocks, for A/B measurements).
void set_fused_blocks(bool on);
bool fused_blocks();

}  // namespace mmfuse::encoders
