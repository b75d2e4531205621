// Inference form of Conv2d -> BatchNorm2d (eval mode): one convolution whose weights and bias
// have the normalisation folded in,
//   scale = gamma / sqrt(running_var + eps),  W' = W * scale,  b' = beta + (b - running_mean) *
//   scale,
// run by oneDNN (aten::mkldnn_convolution) whatever the batch size: LibTorch's own heuristic
// sends small batches (batch 1 in particular) to its im2col + BLAS path, which on Debian's
// reference BLAS is many times slower. Outputs equal conv -> bn within float rounding.
//
// The folded tensors are recomputed on every call (a few tiny ops): the running statistics are
// updated in place by the BatchNorm kernel and parameters may be written through `.data()`, and
// neither moves the tensors' version counters, so a cache keyed on them went stale.
// Only for forwards without autograd (eval mode, NoGradGuard / InferenceMode). A conv quantized
// to int8 (nn/quant/hooks.h) runs its int8 kernel instead, its batch norm already folded.
#pragma once

#include <torch/torch.h>

#include "mmfuse/nn/quant/hooks.h"

namespace mmfuse::encoders {

/// input [B, C_in, H, W] -> [B, C_out, H', W'] = bn(conv(input)) with bn in eval mode.
/// Requires: conv with explicit (numeric) padding, bn over conv's out channels with running
/// statistics.
inline torch::Tensor folded_conv_bn(const torch::Tensor& input, torch::nn::Conv2dImpl& conv,
                                    torch::nn::BatchNorm2dImpl& bn) {
  torch::NoGradGuard no_grad;
  if (auto q = nn::quant::conv_bn_hook(input, conv, bn); q.defined()) return q;  // int8 (nn/quant)
  auto scale = bn.weight / torch::sqrt(bn.running_var + bn.options.eps());
  auto shift = conv.bias.defined() ? conv.bias - bn.running_mean : -bn.running_mean;
  auto weight = (conv.weight * scale.reshape({-1, 1, 1, 1})).contiguous();
  auto bias = bn.bias + shift * scale;
  const auto& o = conv.options;
  auto padding = c10::get<torch::ExpandingArray<2>>(o.padding());
  return at::mkldnn_convolution(input.contiguous(), weight, bias, *padding, *o.stride(),
                                *o.dilation(), o.groups());
}

}  // namespace mmfuse::encoders
