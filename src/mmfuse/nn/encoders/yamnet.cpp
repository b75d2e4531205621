#include "mmfuse/nn/encoders/yamnet.h"

#include "mmfuse/nn/encoders/mobilenet_v2.h"  // make_divisible
#include "mmfuse/nn/encoders/same_padding.h"

namespace mmfuse::encoders {

namespace {

// Stride of layers 1..27 (README of ../shared/pretrained).
constexpr int64_t kStrides[27] = {2, 1, 1, 2, 1, 1, 1, 2, 1, 1, 1, 2, 1, 1,
                                  1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1, 1, 1};
// Output channels of the pointwise layers 3, 5, ..., 27 (layer 1 gives 32).
constexpr int64_t kPointwise[13] = {64,  128, 128, 256, 256,  512, 512,
                                    512, 512, 512, 512, 1024, 1024};

}  // namespace

std::shared_ptr<YamnetImpl> YamnetImpl::create(const EncoderContext& ctx, const ConfigNode& cfg) {
  cfg.check_keys({"type", "patch_frames", "patch_hop", "width"});
  if (ctx.input_shape.size() != 2 || ctx.input_shape[1] < 1) {
    cfg.fail(
        "yamnet expects log-mel frames [T, bands] (the audio pipeline's features: yamnet), "
        "got a per-item shape of rank " +
        std::to_string(ctx.input_shape.size()));
  }
  YamnetOptions o(ctx.input_shape[1]);
  o.patch_frames(cfg.get<int64_t>("patch_frames", o.patch_frames()));
  o.patch_hop(cfg.get<int64_t>("patch_hop", o.patch_hop()));
  o.width(cfg.get<double>("width", o.width()));
  if (o.patch_frames() < 1 || o.patch_hop() < 1) {
    cfg.fail(
        "expected patch_frames >= 1 and patch_hop >= 1 (96 and 48 for the pretrained weights)");
  }
  if (!(o.width() > 0 && o.width() <= 4)) cfg["width"].fail("expected a multiplier in (0, 4]");
  return std::make_shared<YamnetImpl>(o);
}

void YamnetImpl::reset() {
  channels_.clear();
  std::vector<std::pair<std::string, std::shared_ptr<torch::nn::Module>>> convs;
  int64_t in = 1;
  for (int64_t i = 1; i <= 27; ++i) {
    const bool depthwise = i % 2 == 0;
    const int64_t out = depthwise ? in
                        : i == 1  ? make_divisible(32 * options.width())
                                  : make_divisible(kPointwise[(i - 3) / 2] * options.width());
    const int64_t kernel = (depthwise || i == 1) ? 3 : 1;
    convs.emplace_back(std::to_string(i),
                       torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel)
                                             .stride(kStrides[i - 1])
                                             .groups(depthwise ? in : 1)
                                             .bias(true))
                           .ptr());
    channels_.push_back(out);
    in = out;
  }
  layers = register_module("layers", torch::nn::ModuleDict(convs));
}

torch::Tensor YamnetImpl::patches(const torch::Tensor& frames) const {
  TORCH_CHECK(frames.dim() == 3 && frames.size(2) == options.bands(),
              "yamnet expected log-mel frames [B, T, ", options.bands(), "], got ", frames.sizes(),
              "; use the audio pipeline's features: yamnet");
  torch::Tensor x = frames.to(torch::kFloat);
  if (x.size(1) < options.patch_frames()) {
    x = torch::constant_pad_nd(x, {0, 0, 0, options.patch_frames() - x.size(1)});
  }
  // unfold: [B, P, F, patch_frames] -> [B, P, patch_frames, F]
  return x.unfold(1, options.patch_frames(), options.patch_hop()).transpose(2, 3);
}

torch::Tensor YamnetImpl::embed_patches(const torch::Tensor& patches) {
  torch::Tensor h = patches;
  for (int64_t i = 1; i <= 27; ++i) {
    auto& conv = *layers[std::to_string(i)]->as<torch::nn::Conv2d>();
    h = conv.forward(pad_same(h, conv.options.kernel_size()->at(0), kStrides[i - 1])).clamp(0, 6);
  }
  return h.mean({2, 3});
}

nn::Encoded YamnetImpl::encode(const data::ModalityBatch& input) {
  const torch::Tensor p = patches(input.data);  // [B, P, pf, F]
  const int64_t b = p.size(0), n = p.size(1);
  const torch::Tensor emb =
      embed_patches(p.reshape({b * n, 1, p.size(2), p.size(3)})).reshape({b, n, -1});
  const auto long_options = emb.options().dtype(torch::kLong);
  torch::Tensor counts = torch::full({b}, n, long_options);
  if (input.lengths.defined()) {
    const auto len = input.lengths.to(long_options).clamp_min(options.patch_frames());
    counts = (len - options.patch_frames()).div(options.patch_hop(), "floor") + 1;
  }
  const torch::Tensor mask = torch::arange(n, long_options).unsqueeze(0) < counts.unsqueeze(1);
  nn::Encoded out;
  out.pooled = (emb * mask.unsqueeze(2)).sum(1) / counts.unsqueeze(1).to(emb.dtype());
  out.tokens = emb;
  out.token_mask = mask;
  out.present = input.present;
  return out;
}

}  // namespace mmfuse::encoders
