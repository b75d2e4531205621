#include "mmfuse/nn/encoders/resnet_blocks.h"

namespace mmfuse::encoders {

namespace {

torch::nn::Conv2d resnet_conv(int64_t in, int64_t out, int64_t kernel, int64_t stride) {
  return torch::nn::Conv2d(
      torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(kernel / 2).bias(false));
}

}  // namespace

torch::nn::Sequential make_downsample(int64_t in, int64_t out, int64_t stride) {
  if (stride == 1 && in == out) return nullptr;
  return torch::nn::Sequential(resnet_conv(in, out, 1, stride), torch::nn::BatchNorm2d(out));
}

void BasicBlockImpl::reset() {
  const auto& o = options;
  conv1 = register_module("conv1", resnet_conv(o.in_channels(), o.channels(), 3, o.stride()));
  bn1 = register_module("bn1", torch::nn::BatchNorm2d(o.channels()));
  conv2 = register_module("conv2", resnet_conv(o.channels(), o.channels(), 3, 1));
  bn2 = register_module("bn2", torch::nn::BatchNorm2d(o.channels()));
  downsample = make_downsample(o.in_channels(), o.channels() * kExpansion, o.stride());
  if (downsample) register_module("downsample", downsample);
}

torch::Tensor BasicBlockImpl::forward(const torch::Tensor& x) {
  auto y = torch::relu(bn1(conv1(x)));
  y = bn2(conv2(y));
  return torch::relu(y + (downsample ? downsample->forward(x) : x));
}

void BottleneckImpl::reset() {
  const auto& o = options;
  const int64_t out = o.channels() * kExpansion;
  conv1 = register_module("conv1", resnet_conv(o.in_channels(), o.channels(), 1, 1));
  bn1 = register_module("bn1", torch::nn::BatchNorm2d(o.channels()));
  conv2 = register_module("conv2", resnet_conv(o.channels(), o.channels(), 3, o.stride()));
  bn2 = register_module("bn2", torch::nn::BatchNorm2d(o.channels()));
  conv3 = register_module("conv3", resnet_conv(o.channels(), out, 1, 1));
  bn3 = register_module("bn3", torch::nn::BatchNorm2d(out));
  downsample = make_downsample(o.in_channels(), out, o.stride());
  if (downsample) register_module("downsample", downsample);
}

torch::Tensor BottleneckImpl::forward(const torch::Tensor& x) {
  auto y = torch::relu(bn1(conv1(x)));
  y = torch::relu(bn2(conv2(y)));
  y = bn3(conv3(y));
  return torch::relu(y + (downsample ? downsample->forward(x) : x));
}

}  // namespace mmfuse::encoders
