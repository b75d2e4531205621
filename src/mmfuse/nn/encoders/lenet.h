// MultiBench-style LeNet (the AV-MNIST encoders): conv5x5 then `extra_blocks` conv3x3 blocks,
// each followed by BatchNorm, ReLU and MaxPool2, channels doubling per block. Module names match
// the PyTorch peer's `LeNet.net` (net.0 conv, net.1 bn, net.2 relu, net.3 pool, net.4 conv, ...)
// so its state dict loads key for key.
// In training, each conv -> BN -> ReLU -> MaxPool2 runs as one fused op with its own backward
// (conv_block.h; bn_relu_pool.h after LibTorch's convolution where that does not apply); its
// modules stay in `net` for the names, parameters and buffers.
// Without autograd in eval mode (inference), each conv -> BN runs as one folded oneDNN
// convolution, then MaxPool2 and ReLU (they commute; pooling first touches 4x fewer values).
#pragma once

#include <memory>
#include <vector>

#include "mmfuse/nn/encoders/bn_relu_pool.h"
#include "mmfuse/nn/encoders/conv_block.h"
#include "mmfuse/nn/encoders/encoder.h"
#include "mmfuse/nn/encoders/folded_conv_bn.h"

namespace mmfuse::encoders {

struct LeNetOptions {
  LeNetOptions(int64_t in_channels, std::vector<int64_t> input_hw)
      : in_channels_(in_channels), input_hw_(std::move(input_hw)) {}

  /// Output channels of block `i` (0 .. extra_blocks).
  int64_t width(int64_t i) const {
    return widths_.empty() ? channels_ << i : widths_[static_cast<std::size_t>(i)];
  }

  /// Channels of the input image (1 for MNIST and spectrograms).
  TORCH_ARG(int64_t, in_channels);
  /// {H, W} of the input in pixels; fixes the size of the flattened output.
  TORCH_ARG(std::vector<int64_t>, input_hw);
  /// Output channels of the first (5x5) convolution; each extra block doubles them.
  TORCH_ARG(int64_t, channels) = 6;
  /// Number of conv3x3 blocks after the first one (each halves H and W).
  TORCH_ARG(int64_t, extra_blocks) = 3;
  /// Output channels of each block (extra_blocks + 1 values, e.g. from structured pruning);
  /// empty: `channels` doubling per block.
  TORCH_ARG(std::vector<int64_t>, widths) = {};
};

class LeNetImpl : public torch::nn::Cloneable<LeNetImpl>, public Encoder {
 public:
  static constexpr const char* kName = "lenet";
  static constexpr const char* kDescription =
      "MultiBench LeNet: conv5x5 + conv3x3 blocks (BN, ReLU, MaxPool2), flattened final map";

  explicit LeNetImpl(LeNetOptions options) : options(std::move(options)) { reset(); }

  /// Keys: channels, extra_blocks, widths (channels per block), in_channels (default: C of the
  /// input shape [C, H, W]).
  static std::shared_ptr<LeNetImpl> create(const EncoderContext& ctx, const ConfigNode& cfg) {
    cfg.check_keys({"type", "in_channels", "channels", "extra_blocks", "widths"});
    if (ctx.input_shape.size() != 3) {
      cfg.fail("lenet expects images with a per-item shape [C, H, W], got rank " +
               std::to_string(ctx.input_shape.size()) + "; use a sequence or mlp encoder");
    }
    if (ctx.input_shape[1] < 1 || ctx.input_shape[2] < 1) {
      cfg.fail("lenet needs a fixed image size (its output size depends on it), got " +
               std::to_string(ctx.input_shape[1]) + "x" + std::to_string(ctx.input_shape[2]) +
               "; resize images in the pipeline");
    }
    LeNetOptions o(cfg.get<int64_t>("in_channels", ctx.input_shape[0]),
                   {ctx.input_shape[1], ctx.input_shape[2]});
    o.channels(cfg.get<int64_t>("channels", o.channels()));
    o.extra_blocks(cfg.get<int64_t>("extra_blocks", o.extra_blocks()));
    if (o.channels() < 1) cfg["channels"].fail("expected a positive channel count");
    if (o.extra_blocks() < 0) cfg["extra_blocks"].fail("expected 0 or more blocks");
    o.widths(cfg.get<std::vector<int64_t>>("widths", {}));
    if (!o.widths().empty() && static_cast<int64_t>(o.widths().size()) != o.extra_blocks() + 1) {
      cfg["widths"].fail("expected " + std::to_string(o.extra_blocks() + 1) +
                         " channel counts (one per block: extra_blocks + 1), got " +
                         std::to_string(o.widths().size()));
    }
    for (int64_t w : o.widths()) {
      if (w < 1) cfg["widths"].fail("expected positive channel counts");
    }
    if (o.in_channels() != ctx.input_shape[0]) {
      cfg["in_channels"].fail("the data gives " + std::to_string(ctx.input_shape[0]) +
                              " channels, the config says " + std::to_string(o.in_channels()) +
                              "; drop in_channels to take it from the data");
    }
    int64_t shrink = int64_t{1} << (o.extra_blocks() + 1);
    if (ctx.input_shape[1] < shrink || ctx.input_shape[2] < shrink) {
      cfg["extra_blocks"].fail("an input of " + std::to_string(ctx.input_shape[1]) + "x" +
                               std::to_string(ctx.input_shape[2]) + " cannot be halved " +
                               std::to_string(o.extra_blocks() + 1) + " times; use fewer blocks");
    }
    return std::make_shared<LeNetImpl>(o);
  }

  void reset() override {
    int64_t in = options.in_channels();
    net_ = torch::nn::Sequential();
    for (int64_t i = 0; i <= options.extra_blocks(); ++i) {
      int64_t out = options.width(i);
      int64_t kernel = i == 0 ? 5 : 3;
      auto conv = torch::nn::Conv2d(
          torch::nn::Conv2dOptions(in, out, kernel).padding(kernel / 2).bias(false));
      torch::nn::init::kaiming_uniform_(conv->weight);  // as the peer: a = 0, fan_in
      net_->push_back(conv);
      net_->push_back(torch::nn::BatchNorm2d(out));
      net_->push_back(torch::nn::ReLU());
      net_->push_back(torch::nn::MaxPool2d(2));
      in = out;
    }
    net_ = register_module("net", net_);
  }

  /// image [B, C, H, W] -> final map [B, C', H', W']
  torch::Tensor feature_map(const torch::Tensor& image) {
    TORCH_CHECK(image.dim() == 4 && image.size(1) == options.in_channels() &&
                    image.size(2) == options.input_hw()[0] &&
                    image.size(3) == options.input_hw()[1],
                "lenet expected images [B, ", options.in_channels(), ", ", options.input_hw()[0],
                ", ", options.input_hw()[1], "], got ", image.sizes(),
                "; the encoder was built for the pipeline's image size");
    if (is_training()) return training_forward(image);
    if (torch::GradMode::is_enabled()) return net_->forward(image);
    torch::Tensor x = image;
    for (std::size_t i = 0; i + 3 < net_->size(); i += 4) {
      auto* conv = net_[i]->as<torch::nn::Conv2d>();
      auto* bn = net_[i + 1]->as<torch::nn::BatchNorm2d>();
      x = torch::max_pool2d(folded_conv_bn(x, *conv, *bn), 2).relu_();
    }
    return x;
  }

  /// image [B, C, H, W] -> pooled [B, C'*H'*W'] (flattened map), tokens [B, H'*W', C']
  nn::Encoded encode(const data::ModalityBatch& input) override {
    auto map = feature_map(input.data);
    nn::Encoded out;
    out.pooled = map.flatten(1);
    out.tokens = map.flatten(2).transpose(1, 2);
    out.present = input.present;
    return out;
  }

  int64_t out_dim() const override { return token_dim() * map_side(0) * map_side(1); }
  int64_t token_dim() const override { return options.width(options.extra_blocks()); }

  LeNetOptions options;

 private:
  /// H' (axis 0) or W' (axis 1) of the final map: halved (floor) once per block.
  int64_t map_side(int axis) const {
    int64_t side = options.input_hw()[axis];
    for (int64_t i = 0; i <= options.extra_blocks(); ++i) side /= 2;
    return side;
  }

  /// Training mode: each block as one oneDNN op with the blocked layout kept (conv_block.h) where
  /// it applies, else conv then the fused BN -> ReLU -> MaxPool2 (float32 CPU, switched on), else
  /// the modules one by one.
  torch::Tensor training_forward(const torch::Tensor& image) {
    torch::Tensor x = image;
    for (std::size_t i = 0; i + 3 < net_->size(); i += 4) {
      auto* conv = net_[i]->as<torch::nn::Conv2d>();
      auto* bn = net_[i + 1]->as<torch::nn::BatchNorm2d>();
      // A batch norm kept in eval mode while the rest trains (train.transfer.bn_eval) normalises
      // with its running statistics: the modules do that, the fused ops do not.
      const bool batch_stats = bn->is_training();
      if (batch_stats && conv_block_applies(x, *conv)) {
        x = conv_bn_relu_max_pool2(x, *conv, *bn);
        continue;
      }
      x = conv->forward(x);
      if (batch_stats && fused_block_applies(x)) {
        x = bn_relu_max_pool2(x, *bn);
      } else {
        x = net_[i + 2]->as<torch::nn::ReLU>()->forward(bn->forward(x));
        x = net_[i + 3]->as<torch::nn::MaxPool2d>()->forward(x);
      }
    }
    return x;
  }

  torch::nn::Sequential net_{nullptr};
};
TORCH_MODULE(LeNet);

}  // namespace mmfuse::encoders
