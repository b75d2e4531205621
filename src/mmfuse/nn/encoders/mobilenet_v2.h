// MobileNetV2 (Sandler et al. 2018) in torchvision's layout: parameter names follow
// torchvision.models.mobilenet_v2 (features.0.0 conv, features.0.1 bn, features.N.conv.*,
// features.18), so a torchvision state dict converted to safetensors loads as it is (without
// `classifier.*`: the pooled features go to mmfuse's fusion and heads; see pretrained.h).
// `padding: same` pads as TensorFlow (same_padding.h), which weights converted from TensorFlow
// (../shared/pretrained/mobilenet_v2_imagenet.safetensors) were trained with.
// Without autograd in eval mode, each conv -> BN runs as one folded oneDNN convolution.
#pragma once

#include <memory>
#include <vector>

#include "mmfuse/nn/encoders/encoder.h"
#include "mmfuse/nn/encoders/folded_conv_bn.h"
#include "mmfuse/nn/encoders/same_padding.h"

namespace mmfuse::encoders {

/// y = bn(x) in training or with autograd, else the folded form (same result, one oneDNN call).
inline torch::Tensor conv_bn(const torch::Tensor& x, torch::nn::Conv2dImpl& conv,
                             torch::nn::BatchNorm2dImpl& bn) {
  if (bn.is_training() || torch::GradMode::is_enabled()) return bn.forward(conv.forward(x));
  return folded_conv_bn(x, conv, bn);
}

struct ConvBnActOptions {
  ConvBnActOptions(int64_t in_channels, int64_t out_channels, int64_t kernel)
      : in_channels_(in_channels), out_channels_(out_channels), kernel_(kernel) {}
  TORCH_ARG(int64_t, in_channels);
  TORCH_ARG(int64_t, out_channels);
  /// Square kernel size.
  TORCH_ARG(int64_t, kernel);
  TORCH_ARG(int64_t, stride) = 1;
  /// Convolution groups (= channels: depthwise).
  TORCH_ARG(int64_t, groups) = 1;
  TORCH_ARG(Padding, padding) = Padding::symmetric;
};

/// torchvision's Conv2dNormActivation with ReLU6: relu6(bn(conv(x))); children "0" (conv, no
/// bias) and "1" (bn). x [B, C_in, H, W] -> [B, C_out, H / stride, W / stride] (rounded up).
class ConvBnActImpl : public torch::nn::Cloneable<ConvBnActImpl> {
 public:
  explicit ConvBnActImpl(ConvBnActOptions options) : options(std::move(options)) { reset(); }

  void reset() override {
    const auto& o = options;
    const int64_t pad = o.padding() == Padding::symmetric ? (o.kernel() - 1) / 2 : 0;
    conv = register_module("0", torch::nn::Conv2d(torch::nn::Conv2dOptions(
                                                      o.in_channels(), o.out_channels(), o.kernel())
                                                      .stride(o.stride())
                                                      .padding(pad)
                                                      .groups(o.groups())
                                                      .bias(false)));
    bn = register_module("1", torch::nn::BatchNorm2d(o.out_channels()));
  }

  torch::Tensor forward(torch::Tensor x) {
    if (options.padding() == Padding::same && options.kernel() > 1) {
      x = pad_same(x, options.kernel(), options.stride());
    }
    return conv_bn(x, *conv, *bn).clamp(0, 6);
  }

  ConvBnActOptions options;
  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
};
TORCH_MODULE(ConvBnAct);

struct InvertedResidualOptions {
  InvertedResidualOptions(int64_t in_channels, int64_t out_channels)
      : in_channels_(in_channels), out_channels_(out_channels) {}
  TORCH_ARG(int64_t, in_channels);
  TORCH_ARG(int64_t, out_channels);
  TORCH_ARG(int64_t, stride) = 1;
  /// Hidden channels = round(in_channels * expand_ratio); 1: no expansion convolution.
  TORCH_ARG(int64_t, expand_ratio) = 6;
  TORCH_ARG(Padding, padding) = Padding::symmetric;
};

/// torchvision's InvertedResidual: [1x1 expand ->] 3x3 depthwise -> 1x1 linear projection,
/// plus the input when stride is 1 and the channels agree. Child `conv`: 0 expand, 1 depthwise,
/// 2 projection conv, 3 its bn (without expansion: 0 depthwise, 1 conv, 2 bn).
class InvertedResidualImpl : public torch::nn::Cloneable<InvertedResidualImpl> {
 public:
  explicit InvertedResidualImpl(InvertedResidualOptions options) : options(std::move(options)) {
    reset();
  }

  void reset() override {
    const auto& o = options;
    const int64_t hidden = o.in_channels() * o.expand_ratio();
    torch::nn::Sequential layers;
    if (o.expand_ratio() != 1)
      layers->push_back(ConvBnAct(ConvBnActOptions(o.in_channels(), hidden, 1)));
    layers->push_back(ConvBnAct(ConvBnActOptions(hidden, hidden, 3)
                                    .stride(o.stride())
                                    .groups(hidden)
                                    .padding(o.padding())));
    layers->push_back(
        torch::nn::Conv2d(torch::nn::Conv2dOptions(hidden, o.out_channels(), 1).bias(false)));
    layers->push_back(torch::nn::BatchNorm2d(o.out_channels()));
    conv = register_module("conv", layers);
  }

  /// x [B, C_in, H, W] -> [B, C_out, H / stride, W / stride]
  torch::Tensor forward(const torch::Tensor& x) {
    const std::size_t n = conv->size();
    torch::Tensor h = x;
    for (std::size_t i = 0; i + 2 < n; ++i) h = conv[i]->as<ConvBnAct>()->forward(h);
    h = conv_bn(h, *conv[n - 2]->as<torch::nn::Conv2d>(),
                *conv[n - 1]->as<torch::nn::BatchNorm2d>());
    const bool residual = options.stride() == 1 && options.in_channels() == options.out_channels();
    return residual ? x + h : h;
  }

  InvertedResidualOptions options;
  torch::nn::Sequential conv{nullptr};
};
TORCH_MODULE(InvertedResidual);

struct MobileNetV2Options {
  explicit MobileNetV2Options(int64_t in_channels) : in_channels_(in_channels) {}
  /// Channels of the input image (3 for the pretrained weights).
  TORCH_ARG(int64_t, in_channels);
  /// Width multiplier: every layer's channels scaled and rounded to a multiple of 8 (1.0: the
  /// 3.4 M-parameter network, 1280 output features).
  TORCH_ARG(double, width) = 1.0;
  /// symmetric (torchvision) or same (TensorFlow, what converted TF weights expect).
  TORCH_ARG(Padding, padding) = Padding::symmetric;
};

class MobileNetV2Impl : public torch::nn::Cloneable<MobileNetV2Impl>, public Encoder {
 public:
  static constexpr const char* kName = "mobilenet_v2";
  static constexpr const char* kDescription =
      "MobileNetV2 (torchvision names, width multiplier, symmetric or TensorFlow SAME padding), "
      "global average pool";

  explicit MobileNetV2Impl(MobileNetV2Options options) : options(std::move(options)) { reset(); }

  /// Keys: width (> 0), padding (symmetric | same).
  static std::shared_ptr<MobileNetV2Impl> create(const EncoderContext& ctx, const ConfigNode& cfg);

  void reset() override;

  /// image [B, C, H, W] -> final map [B, D, ceil(H / 32), ceil(W / 32)]
  torch::Tensor feature_map(const torch::Tensor& image);

  /// image [B, C, H, W] -> pooled [B, D] (mean over the final map), tokens [B, H'*W', D]
  nn::Encoded encode(const data::ModalityBatch& input) override;

  int64_t out_dim() const override { return last_channels_; }
  int64_t token_dim() const override { return last_channels_; }

  MobileNetV2Options options;
  torch::nn::Sequential features{nullptr};

 private:
  int64_t last_channels_ = 0;
};
TORCH_MODULE(MobileNetV2);

/// torchvision's _make_divisible: `v` rounded to the nearest multiple of `divisor` (at least
/// `divisor`), never more than 10% below `v`.
int64_t make_divisible(double v, int64_t divisor = 8);

}  // namespace mmfuse::encoders
