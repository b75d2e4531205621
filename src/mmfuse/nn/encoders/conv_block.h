// Training form of a whole LeNet block, Conv2d (no bias) -> BatchNorm2d -> ReLU -> MaxPool2d(2),
// as one op with its own backward, on oneDNN's convolution primitives.
//
// LibTorch's oneDNN convolution takes and returns plain NCHW tensors, so around every call it
// reorders: the forward's output from oneDNN's channel-blocked layout to NCHW, the backward's
// output gradient from NCHW back to blocked (for the backward-weights and backward-data
// primitives), each a full pass over the largest map of the block, padded to 8 or 16 channels.
// On the AV-MNIST audio LeNet those reorders were ~30% of oneDNN's time in a training step
// (docs/BENCHMARKS.md). Here the convolution's output stays blocked: the fused BatchNorm ->
// ReLU -> MaxPool2 (blocked_bn_relu_pool.h) reads it where it lies and writes the pooled map in
// NCHW, and its backward writes the convolution's output gradient in the blocked layout the
// backward primitives read. Only the pooled maps (4x smaller) and the weights are reordered.
// Same results as the modules to float rounding (tests/nn/conv_block_test.cpp).
#pragma once

#include <torch/torch.h>

namespace mmfuse::encoders {

/// x [N, IC, H, W] float32 CPU -> max_pool2d(relu(bn(conv(x))), 2) [N, OC, H'/2, W'/2] with bn in
/// training mode (its running statistics and num_batches_tracked updated as BatchNorm2d does).
/// Differentiable in x, conv.weight, bn.weight and bn.bias (first order). Requires
/// conv_block_applies(x, conv).
torch::Tensor conv_bn_relu_max_pool2(const torch::Tensor& x, torch::nn::Conv2dImpl& conv,
                                     torch::nn::BatchNorm2dImpl& bn);

/// Whether conv_bn_relu_max_pool2 runs this block: fused blocks and this op on (set_fused_blocks,
/// set_conv_blocks), x float32
/// CPU [N, IC, H, W], conv without bias, groups, dilation or stride, square kernel with zero
/// padding, an output of at least 2x2, and oneDNN writing that output channel-blocked (8 or 16).
bool conv_block_applies(const torch::Tensor& x, const torch::nn::Conv2dImpl& conv);

/// Switches this op on (the default) or off for the whole process (the CLI's --no-conv-blocks, for
/// A/B measurements: LeNet then runs LibTorch's convolution and bn_relu_max_pool2).
void set_conv_blocks(bool on);
bool conv_blocks();

/// Blocks run by conv_bn_relu_max_pool2 in this process (forward passes; tests and benchmarks
/// check the path with it).
int64_t conv_blocks_run();

}  // namespace mmfuse::encoders
