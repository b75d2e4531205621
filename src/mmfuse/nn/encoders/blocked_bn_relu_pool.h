// BatchNorm (training) -> ReLU -> MaxPool2 over a map in one of oneDNN's layouts, as a
// convolution writes it: channel-blocked nChw{B}c ([N, ceil(C / B), H, W, B] floats, B = 8 or 16,
// the lanes past C zero) or NHWC (the same with one block of B = C >= 8 lanes).
// The kernels of conv_block.h: reading the convolution's output where it lies saves the two
// full-size reorders (blocked -> plain after the forward convolution, plain -> blocked before its
// backward) that LibTorch makes around every oneDNN convolution. Each pixel's B channels are one
// vector, so the per-channel statistics and the pooling vectorise across channels.
// Same arithmetic as bn_relu_pool.cpp (pivot-shifted moments in float per row, double per
// channel; the first maximum of a window; a one-byte position code), so the two agree to float
// rounding. The pooled output and its gradient are channels-last [N, H/2, W/2, C] (what the next
// block's convolution reads without a reorder).
#pragma once

#include <torch/torch.h>

#include <cstdint>
#include <vector>

namespace mmfuse::encoders {

/// A channel-blocked map: n, c, h, w as the logical NCHW shape, `block` lanes per pixel and
/// channel block (8 or 16; or c >= 8 for NHWC).
struct BlockedMap {
  int64_t n, c, h, w, block;
  int64_t blocks() const { return (c + block - 1) / block; }
  int64_t padded_channels() const { return blocks() * block; }
  int64_t planes() const { return n * blocks(); }  // (image, channel block) pairs
  int64_t plane() const { return h * w * block; }  // floats per plane
  int64_t numel() const { return planes() * plane(); }
  int64_t oh() const { return h / 2; }
  int64_t ow() const { return w / 2; }
  int64_t pooled_codes() const { return planes() * oh() * ow() * block; }
  /// One block holding all channels: NHWC, the pooled channels-last layout's own pixel order.
  bool nhwc() const { return blocks() == 1 && block == c; }
  /// Under a third of a block's lanes used (3 channels in 16): the fused kernels would pass over
  /// more padding than the reorders they save (tf's 3-channel LeNets: 4% slower at one thread),
  /// so such maps keep LibTorch's convolution in training and oneDNN's in the inference plan.
  bool mostly_padding() const { return !nhwc() && c * 3 < block; }
};

/// Per-channel batch mean and biased variance of x (C values each).
void blocked_moments(const float* x, const BlockedMap& s, std::vector<double>& mean,
                     std::vector<double>& var);

/// out [N, H/2, W/2, C] (channels-last) = max_pool2(relu(a * x + b)) per channel; code
/// [N, C/B, H/2, W/2, B] the window position (0..3, row-major; the first maximum) or 4 where the
/// maximum is <= 0. a, b: padded_channels() values. A channel whose a or b is not finite (a NaN
/// or inf in its statistics) is written as NaN with no gradient, as the modules would.
void blocked_pool_forward(const float* x, const BlockedMap& s, const float* a, const float* b,
                          float* out, uint8_t* code);

/// Per-channel sum of g and of g * (x - mean) over the coded positions; g [N, H/2, W/2, C]
/// (channels-last), mean: padded_channels() values.
void blocked_grad_sums(const float* x, const BlockedMap& s, const float* g, const uint8_t* code,
                       const float* mean, std::vector<double>& sum_g, std::vector<double>& sum_gx);

/// dx (blocked, as x) = p - q * x + a * g at each window's coded position (a pooled-away odd
/// row or column gets p - q * x). a, p, q: padded_channels() values, zero past C (so that the
/// padding lanes of dx are zero, as oneDNN requires of a blocked input).
void blocked_pool_backward(const float* x, const BlockedMap& s, const float* g, const uint8_t* code,
                           const float* a, const float* p, const float* q, float* dx);

/// What the backward needs from the forward: the batch mean and 1 / sqrt(var + eps) [C] and the
/// window codes.
struct BlockedBnSaved {
  torch::Tensor mean, invstd, code;
};

/// Training-mode BatchNorm -> ReLU -> MaxPool2 of the map `x` (float32, s.numel() values, laid out
/// as `s` says) -> [N, C, H/2, W/2] laid out channels-last. Updates bn's running statistics and
/// num_batches_tracked as BatchNorm2d does; gamma, beta [C].
torch::Tensor blocked_bn_relu_max_pool2(const torch::Tensor& x, const BlockedMap& s,
                                        const torch::Tensor& gamma, const torch::Tensor& beta,
                                        torch::nn::BatchNorm2dImpl& bn, BlockedBnSaved& saved);

/// Its backward for the output gradient g [N, C, H/2, W/2] (any layout): the gradient of x
/// (laid out as x, padding lanes zero), of gamma and of beta.
std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> blocked_bn_relu_max_pool2_backward(
    const torch::Tensor& x, const BlockedMap& s, const torch::Tensor& g, const torch::Tensor& gamma,
    const BlockedBnSaved& saved);

}  // namespace mmfuse::encoders
