// Convolution padding of networks converted from TensorFlow: "SAME" pads max((ceil(n / s) - 1) * s
// + k - n, 0) in total along each axis, the odd pixel after (bottom, right), as timm's `tf_`
// models do; PyTorch pads (k - 1) / 2 on both sides. The two agree for stride 1 and differ for a
// stride-2 3x3 convolution of an even size (SAME: 0 before, 1 after).
#pragma once

#include <torch/torch.h>

#include "mmfuse/nn/encoders/config_enum.h"

namespace mmfuse::encoders {

enum class Padding { symmetric, same };

/// The one string table of Padding: "symmetric" (PyTorch), "same" (TensorFlow).
inline const EnumNames<Padding>& padding_names() {
  static const EnumNames<Padding> names = {{Padding::symmetric, "symmetric"},
                                           {Padding::same, "same"}};
  return names;
}

/// x [B, C, H, W] -> [B, C, H + ph, W + pw], zero-padded as TensorFlow's "SAME" padding does
/// before a `kernel` x `kernel` convolution of stride `stride`.
inline torch::Tensor pad_same(const torch::Tensor& x, int64_t kernel, int64_t stride) {
  auto total = [&](int64_t n) {
    return std::max<int64_t>(((n + stride - 1) / stride - 1) * stride + kernel - n, 0);
  };
  const int64_t ph = total(x.size(2)), pw = total(x.size(3));
  if (ph == 0 && pw == 0) return x;
  return torch::constant_pad_nd(x, {pw / 2, pw - pw / 2, ph / 2, ph - ph / 2});
}

}  // namespace mmfuse::encoders
