#include "mmfuse/nn/encoders/resnet.h"

#include "mmfuse/core/error.h"

namespace mmfuse::encoders {

ResNetOptions resnet_arch(const std::string& arch, int64_t in_channels) {
  ResNetOptions o(in_channels);
  if (arch == "resnet18") return o.blocks({2, 2, 2, 2}).block(ResidualBlock::basic);
  if (arch == "resnet34") return o.blocks({3, 4, 6, 3}).block(ResidualBlock::basic);
  if (arch == "resnet50") return o.blocks({3, 4, 6, 3}).block(ResidualBlock::bottleneck);
  throw Error("unknown resnet arch '" + arch + "'; known: resnet18, resnet34, resnet50");
}

std::shared_ptr<ResNetImpl> ResNetImpl::create(const EncoderContext& ctx, const ConfigNode& cfg) {
  cfg.check_keys({"type", "arch", "base_width", "blocks", "block", "small_input", "classes"});
  if (ctx.input_shape.size() != 3) {
    cfg.fail("resnet expects images with a per-item shape [C, H, W], got rank " +
             std::to_string(ctx.input_shape.size()));
  }
  ResNetOptions o(ctx.input_shape[0]);
  if (cfg.has("arch")) {
    try {
      o = resnet_arch(cfg.get<std::string>("arch"), ctx.input_shape[0]);
    } catch (const Error& e) {
      cfg["arch"].fail(e.what());
    }
  }
  o.base_width(cfg.get<int64_t>("base_width", o.base_width()));
  o.blocks(cfg.get<std::vector<int64_t>>("blocks", o.blocks()));
  o.block(read_enum(cfg, "block", o.block(), residual_block_names()));
  o.small_input(cfg.get<bool>("small_input", o.small_input()));
  o.classes(cfg.get<int64_t>("classes", o.classes()));
  if (o.base_width() < 1) cfg["base_width"].fail("expected a positive width");
  if (o.blocks().empty()) cfg["blocks"].fail("expected at least one stage, e.g. [2, 2, 2, 2]");
  for (int64_t n : o.blocks()) {
    if (n < 1) cfg["blocks"].fail("every stage needs at least one block");
  }
  if (o.classes() < 0) cfg["classes"].fail("expected 0 (no fc) or a number of classes");
  return std::make_shared<ResNetImpl>(o);
}

void ResNetImpl::reset() {
  const auto& o = options;
  auto stem = torch::nn::Conv2dOptions(o.in_channels(), o.base_width(), o.small_input() ? 3 : 7)
                  .stride(o.small_input() ? 1 : 2)
                  .padding(o.small_input() ? 1 : 3)
                  .bias(false);
  conv1 = register_module("conv1", torch::nn::Conv2d(stem));
  bn1 = register_module("bn1", torch::nn::BatchNorm2d(o.base_width()));
  stages_.clear();
  const bool bottleneck = o.block() == ResidualBlock::bottleneck;
  const int64_t expansion = bottleneck ? BottleneckImpl::kExpansion : BasicBlockImpl::kExpansion;
  int64_t in = o.base_width();
  for (std::size_t s = 0; s < o.blocks().size(); ++s) {
    const int64_t width = o.base_width() << s;
    torch::nn::Sequential stage;
    for (int64_t b = 0; b < o.blocks()[s]; ++b) {
      ResidualBlockOptions bo(in, width);
      bo.stride((s > 0 && b == 0) ? 2 : 1);
      if (bottleneck) {
        stage->push_back(Bottleneck(bo));
      } else {
        stage->push_back(BasicBlock(bo));
      }
      in = width * expansion;
    }
    stages_.push_back(register_module("layer" + std::to_string(s + 1), stage));
  }
  fc = nullptr;
  if (o.classes() > 0) fc = register_module("fc", torch::nn::Linear(in, o.classes()));
  // torchvision's initialisation of the convolutions (batch norms start at 1 and 0).
  for (auto& m : modules(/*include_self=*/false)) {
    if (auto* conv = m->as<torch::nn::Conv2d>()) {
      torch::nn::init::kaiming_normal_(conv->weight, 0.0, torch::kFanOut, torch::kReLU);
    }
  }
}

int64_t ResNetImpl::feature_dim() const {
  const int64_t expansion = options.block() == ResidualBlock::bottleneck
                                ? BottleneckImpl::kExpansion
                                : BasicBlockImpl::kExpansion;
  return (options.base_width() << (options.blocks().size() - 1)) * expansion;
}

torch::Tensor ResNetImpl::feature_map(const torch::Tensor& image) {
  TORCH_CHECK(image.dim() == 4 && image.size(1) == options.in_channels(),
              "resnet expected images [B, ", options.in_channels(), ", H, W], got ", image.sizes());
  auto x = torch::relu(bn1(conv1(image)));
  if (!options.small_input()) x = torch::max_pool2d(x, 3, 2, 1);
  for (auto& stage : stages_) x = stage->forward(x);
  return x;
}

nn::Encoded ResNetImpl::encode(const data::ModalityBatch& input) {
  auto out = nn::encode_feature_map(feature_map(input.data), input.present);
  if (fc) out.pooled = fc(out.pooled);
  return out;
}

}  // namespace mmfuse::encoders
