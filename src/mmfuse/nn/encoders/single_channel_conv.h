// Kernels for a convolution of one input channel — a LeNet's first layer over a gray image or a
// spectrogram: stride 1, a square k x k kernel (3, 5 or 7), zero padding, its output in oneDNN's
// channel-blocked layout nChw{8,16}c (conv_block.h keeps it there).
//
// oneDNN 2.6's AVX2 kernels for one input channel run the weight gradient at 4-13 GFLOP/s:
// 0.57 ms of an `image` training step (2.35 M multiply-adds) and 11.4 ms of an `audio` one
// (75 M), the largest single item of either (ONEDNN_VERBOSE, 2 threads, docs/BENCHMARKS.md).
// Here each output pixel's B channels are one vector and each input value a broadcast, so a row
// of the output gradient makes k fused multiply-adds per pixel against k accumulators held in
// registers. The forward reads the plain input (no reorder into padded blocks) and writes the
// blocked output: 0.16 ms of oneDNN's kernel and a 0.08 ms reorder per `image` step. Every image is
// summed on its own (float, as oneDNN does) and the images are added in order in double, so the
// result does not depend on the number of threads.
#pragma once

#include <torch/torch.h>

#include <vector>

#include "mmfuse/nn/encoders/blocked_bn_relu_pool.h"

namespace mmfuse::encoders {

/// The loops these kernels can run: compiled for AVX2 with FMA, or plain
/// (any x86-64 CPU).
enum class SingleChannelLoop { plain, avx2 };

/// The loops this CPU runs, the best first (tests run each).
std::vector<SingleChannelLoop> single_channel_loops();
/// The CPU's best loop: what the overloads without a `loop` run.
SingleChannelLoop best_single_channel_loop();

/// Whether the kernel handles this weight gradient: a kernel side of 3, 5 or 7 and a blocked map
/// of 8 or 16 lanes.
bool single_channel_kernel_applies(const BlockedMap& ddst, int64_t k);

/// dweight [OC, 1, k, k] (contiguous float32) of a stride-1 convolution with zero padding `pad`:
/// dweight[oc, 0, i, j] = sum over n, y, x of ddst[n, oc, y, x] * input[n, 0, y + i - pad,
/// x + j - pad] (zero outside the input). x [N, 1, H, W] contiguous float32; ddst laid out as the
/// blocked map `s` (s.n = N, s.c = OC, s.h = H + 2 pad - k + 1, s.w likewise), its lanes past OC
/// ignored. Requires single_channel_kernel_applies(s, k). `loop` defaults to the CPU's best.
torch::Tensor single_channel_conv_backward_weights(const torch::Tensor& x, const float* ddst,
                                                   const BlockedMap& s, int64_t k, int64_t pad);
torch::Tensor single_channel_conv_backward_weights(const torch::Tensor& x, const float* ddst,
                                                   const BlockedMap& s, int64_t k, int64_t pad,
                                                   SingleChannelLoop loop);

/// out (laid out as the blocked map `s`: [N, blocks, OH, OW, B], the lanes past OC zero) = the
/// stride-1 convolution of x [N, 1, H, W] (contiguous float32, H = s.h + 1 - k + 2 pad) with
/// weight [OC, 1, k, k] (contiguous) and zero padding `pad`, plus bias [OC] (nullptr: none),
/// then ReLU if `relu`. Requires single_channel_kernel_applies(s, k). Images in parallel over
/// the intra-op threads (serially inside a parallel region).
void single_channel_conv_forward(const float* x, const float* weight, const float* bias,
                                 const BlockedMap& s, int64_t k, int64_t pad, bool relu,
                                 float* out);
void single_channel_conv_forward(const float* x, const float* weight, const float* bias,
                                 const BlockedMap& s, int64_t k, int64_t pad, bool relu, float* out,
                                 SingleChannelLoop loop);

/// Switches these kernels on (the default) or off for the whole process (oneDNN's primitives then
/// run those convolutions, in training and in inference plans built afterwards; the CLI's
/// --no-single-channel-kernels, for A/B measurements).
void set_single_channel_kernels(bool on);
bool single_channel_kernels();

}  // namespace mmfuse::encoders
