#include "mmfuse/nn/encoders/mobilenet_v2.h"

#include <cmath>

namespace mmfuse::encoders {

namespace {

struct Stage {
  int64_t expand, channels, repeats, stride;
};
// torchvision's inverted_residual_setting (t, c, n, s).
constexpr Stage kStages[] = {{1, 16, 1, 1}, {6, 24, 2, 2},  {6, 32, 3, 2}, {6, 64, 4, 2},
                             {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};

}  // namespace

int64_t make_divisible(double v, int64_t divisor) {
  const auto d = static_cast<double>(divisor);
  int64_t out = std::max(divisor, static_cast<int64_t>(v + d / 2) / divisor * divisor);
  if (static_cast<double>(out) < 0.9 * v) out += divisor;
  return out;
}

std::shared_ptr<MobileNetV2Impl> MobileNetV2Impl::create(const EncoderContext& ctx,
                                                         const ConfigNode& cfg) {
  cfg.check_keys({"type", "width", "padding"});
  if (ctx.input_shape.size() != 3) {
    cfg.fail("mobilenet_v2 expects images with a per-item shape [C, H, W], got rank " +
             std::to_string(ctx.input_shape.size()));
  }
  MobileNetV2Options o(ctx.input_shape[0]);
  o.width(cfg.get<double>("width", o.width()));
  if (!(o.width() > 0 && o.width() <= 4)) {
    cfg["width"].fail("expected a width multiplier in (0, 4], e.g. 1.0 or 0.5");
  }
  o.padding(read_enum(cfg, "padding", o.padding(), padding_names()));
  return std::make_shared<MobileNetV2Impl>(o);
}

void MobileNetV2Impl::reset() {
  const auto& o = options;
  const Padding pad = o.padding();
  int64_t in = make_divisible(32 * o.width());
  last_channels_ = make_divisible(1280 * std::max(1.0, o.width()));
  torch::nn::Sequential f;
  f->push_back(ConvBnAct(ConvBnActOptions(o.in_channels(), in, 3).stride(2).padding(pad)));
  for (const Stage& s : kStages) {
    const int64_t out = make_divisible(static_cast<double>(s.channels) * o.width());
    for (int64_t i = 0; i < s.repeats; ++i) {
      f->push_back(InvertedResidual(InvertedResidualOptions(in, out)
                                        .stride(i == 0 ? s.stride : 1)
                                        .expand_ratio(s.expand)
                                        .padding(pad)));
      in = out;
    }
  }
  f->push_back(ConvBnAct(ConvBnActOptions(in, last_channels_, 1)));
  features = register_module("features", f);
  // torchvision's initialisation (batch norms keep weight 1, bias 0).
  for (auto& m : modules(/*include_self=*/false)) {
    if (auto* conv = m->as<torch::nn::Conv2d>()) {
      torch::nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut);
    }
  }
}

torch::Tensor MobileNetV2Impl::feature_map(const torch::Tensor& image) {
  TORCH_CHECK(image.dim() == 4 && image.size(1) == options.in_channels(),
              "mobilenet_v2 expected images [B, ", options.in_channels(), ", H, W], got ",
              image.sizes(), "; set the image pipeline's channels to ", options.in_channels());
  return features->forward(image);
}

nn::Encoded MobileNetV2Impl::encode(const data::ModalityBatch& input) {
  return nn::encode_feature_map(feature_map(input.data), input.present);
}

}  // namespace mmfuse::encoders
