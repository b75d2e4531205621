// Small ResNet with the ResNet-18 layout (BasicBlock stages). Parameter names follow torchvision
// (conv1, bn1, layer1.0.conv1, ..., layer2.0.downsample.0/1; no fc), so torchvision resnet18
// weights load into the default configuration.
#pragma once

#include <memory>
#include <vector>

#include "mmfuse/nn/encoders/encoder.h"

namespace mmfuse::encoders {

struct BasicBlockOptions {
  BasicBlockOptions(int64_t in_channels, int64_t channels)
      : in_channels_(in_channels), channels_(channels) {}
  /// Channels coming in.
  TORCH_ARG(int64_t, in_channels);
  /// Channels going out (both 3x3 convolutions).
  TORCH_ARG(int64_t, channels);
  /// Stride of the first convolution (2 halves H and W).
  TORCH_ARG(int64_t, stride) = 1;
};

/// torchvision's BasicBlock: relu(bn2(conv2(relu(bn1(conv1(x))))) + downsample(x)).
class BasicBlockImpl : public torch::nn::Cloneable<BasicBlockImpl> {
 public:
  explicit BasicBlockImpl(BasicBlockOptions options) : options(std::move(options)) { reset(); }

  void reset() override {
    const auto& o = options;
    conv1 = register_module("conv1", conv3x3(o.in_channels(), o.channels(), o.stride()));
    bn1 = register_module("bn1", torch::nn::BatchNorm2d(o.channels()));
    conv2 = register_module("conv2", conv3x3(o.channels(), o.channels(), 1));
    bn2 = register_module("bn2", torch::nn::BatchNorm2d(o.channels()));
    downsample = nullptr;
    if (o.stride() != 1 || o.in_channels() != o.channels()) {
      downsample = register_module(
          "downsample",
          torch::nn::Sequential(
              torch::nn::Conv2d(torch::nn::Conv2dOptions(o.in_channels(), o.channels(), 1)
                                    .stride(o.stride())
                                    .bias(false)),
              torch::nn::BatchNorm2d(o.channels())));
    }
  }

  /// x [B, C_in, H, W] -> [B, C, H / stride, W / stride]
  torch::Tensor forward(const torch::Tensor& x) {
    auto y = torch::relu(bn1(conv1(x)));
    y = bn2(conv2(y));
    return torch::relu(y + (downsample ? downsample->forward(x) : x));
  }

  BasicBlockOptions options;
  torch::nn::Conv2d conv1{nullptr}, conv2{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr}, bn2{nullptr};
  torch::nn::Sequential downsample{nullptr};

 private:
  static torch::nn::Conv2d conv3x3(int64_t in, int64_t out, int64_t stride) {
    return torch::nn::Conv2d(
        torch::nn::Conv2dOptions(in, out, 3).stride(stride).padding(1).bias(false));
  }
};
TORCH_MODULE(BasicBlock);

struct ResNetOptions {
  explicit ResNetOptions(int64_t in_channels) : in_channels_(in_channels) {}
  /// Channels of the input image.
  TORCH_ARG(int64_t, in_channels);
  /// Channels of the stem and the first stage; each later stage doubles them (64 = ResNet-18).
  TORCH_ARG(int64_t, base_width) = 64;
  /// BasicBlocks per stage ({2, 2, 2, 2} = ResNet-18); stage i > 1 starts with stride 2.
  TORCH_ARG(std::vector<int64_t>, blocks) = std::vector<int64_t>{2, 2, 2, 2};
  /// true: conv3x3/s1 stem without max-pool (small images such as 28x28 or 32x32);
  /// false: torchvision's conv7x7/s2 + max-pool 3x3/s2.
  TORCH_ARG(bool, small_input) = false;
};

class ResNetImpl : public torch::nn::Cloneable<ResNetImpl>, public Encoder {
 public:
  static constexpr const char* kName = "resnet";
  static constexpr const char* kDescription =
      "ResNet-18 layout (BasicBlocks, torchvision names), global average pool";

  explicit ResNetImpl(ResNetOptions options) : options(std::move(options)) { reset(); }

  /// Keys: base_width, blocks (list per stage), small_input (bool).
  static std::shared_ptr<ResNetImpl> create(const EncoderContext& ctx, const ConfigNode& cfg) {
    cfg.check_keys({"type", "base_width", "blocks", "small_input"});
    if (ctx.input_shape.size() != 3) {
      cfg.fail("resnet expects images with a per-item shape [C, H, W], got rank " +
               std::to_string(ctx.input_shape.size()));
    }
    ResNetOptions o(ctx.input_shape[0]);
    o.base_width(cfg.get<int64_t>("base_width", o.base_width()));
    o.blocks(cfg.get<std::vector<int64_t>>("blocks", o.blocks()));
    o.small_input(cfg.get<bool>("small_input", o.small_input()));
    if (o.base_width() < 1) cfg["base_width"].fail("expected a positive width");
    if (o.blocks().empty()) cfg["blocks"].fail("expected at least one stage, e.g. [2, 2, 2, 2]");
    for (int64_t n : o.blocks()) {
      if (n < 1) cfg["blocks"].fail("every stage needs at least one block");
    }
    return std::make_shared<ResNetImpl>(o);
  }

  void reset() override {
    const auto& o = options;
    auto stem = o.small_input() ? torch::nn::Conv2dOptions(o.in_channels(), o.base_width(), 3)
                                      .stride(1)
                                      .padding(1)
                                      .bias(false)
                                : torch::nn::Conv2dOptions(o.in_channels(), o.base_width(), 7)
                                      .stride(2)
                                      .padding(3)
                                      .bias(false);
    conv1 = register_module("conv1", torch::nn::Conv2d(stem));
    bn1 = register_module("bn1", torch::nn::BatchNorm2d(o.base_width()));
    stages_.clear();
    int64_t in = o.base_width();
    for (std::size_t s = 0; s < o.blocks().size(); ++s) {
      int64_t width = o.base_width() << s;
      torch::nn::Sequential stage;
      for (int64_t b = 0; b < o.blocks()[s]; ++b) {
        int64_t stride = (s > 0 && b == 0) ? 2 : 1;
        stage->push_back(BasicBlock(BasicBlockOptions(in, width).stride(stride)));
        in = width;
      }
      stages_.push_back(register_module("layer" + std::to_string(s + 1), stage));
    }
    // torchvision's initialisation.
    for (auto& m : modules(/*include_self=*/false)) {
      if (auto* conv = m->as<torch::nn::Conv2d>()) {
        torch::nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
      }
    }
  }

  /// image [B, C, H, W] -> final map [B, D, H', W']
  torch::Tensor feature_map(const torch::Tensor& image) {
    TORCH_CHECK(image.dim() == 4 && image.size(1) == options.in_channels(),
                "resnet expected images [B, ", options.in_channels(), ", H, W], got ",
                image.sizes());
    auto x = torch::relu(bn1(conv1(image)));
    if (!options.small_input()) x = torch::max_pool2d(x, 3, 2, 1);
    for (auto& stage : stages_) x = stage->forward(x);
    return x;
  }

  /// image [B, C, H, W] -> pooled [B, D] (global average), tokens [B, H'*W', D]
  nn::Encoded encode(const data::ModalityBatch& input) override {
    return nn::encode_feature_map(feature_map(input.data), input.present);
  }

  int64_t out_dim() const override { return options.base_width() << (options.blocks().size() - 1); }
  int64_t token_dim() const override { return out_dim(); }

  ResNetOptions options;
  torch::nn::Conv2d conv1{nullptr};
  torch::nn::BatchNorm2d bn1{nullptr};

 private:
  std::vector<torch::nn::Sequential> stages_;
};
TORCH_MODULE(ResNet);

}  // namespace mmfuse::encoders
