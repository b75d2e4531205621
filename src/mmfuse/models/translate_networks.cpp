#include "mmfuse/models/translate_networks.h"

#include "mmfuse/core/error.h"

namespace mmfuse::models {

int64_t doublings_from_7(int64_t size) {
  int64_t k = 0, s = size;
  while (s > 7 && s % 2 == 0) {
    s /= 2;
    ++k;
  }
  if (s != 7) {
    throw Error("translation target size " + std::to_string(size) +
                " is not 7 * 2^k (e.g. 28 or 112); resize the target modality to such a size");
  }
  return k;
}

ConvDecoderImpl::ConvDecoderImpl(ConvDecoderOptions options_) : options(std::move(options_)) {
  reset();
}

void ConvDecoderImpl::reset() {
  const auto& shape = options.out_shape();
  if (shape.size() != 3) throw Error("ConvDecoder: out_shape must be [C, H, W]");
  const int64_t kh = doublings_from_7(shape[1]), kw = doublings_from_7(shape[2]);
  if (kh != kw) throw Error("ConvDecoder: H and W need the same number of doublings from 7");
  fc = register_module("fc", torch::nn::Linear(options.in_dim(), options.channels() * 49));
  up = torch::nn::Sequential();
  int64_t c = options.channels();
  for (int64_t i = 0; i < kh; ++i) {
    const int64_t next = std::max<int64_t>(16, c / 2);
    up->push_back(torch::nn::ConvTranspose2d(
        torch::nn::ConvTranspose2dOptions(c, next, 4).stride(2).padding(1).bias(false)));
    up->push_back(torch::nn::BatchNorm2d(next));
    up->push_back(torch::nn::ReLU());
    c = next;
  }
  up->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(c, shape[0], 3).padding(1)));
  up = register_module("up", up);
}

torch::Tensor ConvDecoderImpl::forward(const torch::Tensor& z) {
  auto h = torch::relu(fc->forward(z)).view({z.size(0), options.channels(), 7, 7});
  return up->forward(h);  // [B, C, H, W]
}

ConvDiscriminatorImpl::ConvDiscriminatorImpl(ConvDiscriminatorOptions options_)
    : options(std::move(options_)) {
  reset();
}

void ConvDiscriminatorImpl::reset() {
  const auto& shape = options.in_shape();
  if (shape.size() != 3) throw Error("ConvDiscriminator: in_shape must be [C, H, W]");
  const int64_t k = std::max<int64_t>(2, doublings_from_7(shape[1]));
  body = torch::nn::Sequential();
  int64_t c_in = shape[0], c = options.channels();
  for (int64_t i = 0; i < k; ++i) {
    body->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(c_in, c, 4).stride(2).padding(1)));
    body->push_back(torch::nn::LeakyReLU(torch::nn::LeakyReLUOptions().negative_slope(0.2)));
    c_in = c;
    c = std::min<int64_t>(c * 2, 256);
  }
  body = register_module("body", body);
  if (options.outputs() < 1) throw Error("ConvDiscriminator: outputs must be >= 1");
  out = register_module("out", torch::nn::Linear(c_in, options.outputs()));
  if (options.cond_dim() > 0) {
    proj = register_module(
        "proj", torch::nn::Linear(torch::nn::LinearOptions(options.cond_dim(), c_in).bias(false)));
  }
}

torch::Tensor ConvDiscriminatorImpl::logits(const torch::Tensor& x) {
  return out->forward(body->forward(x).mean({2, 3}));  // [B, F] -> [B, outputs]
}

torch::Tensor ConvDiscriminatorImpl::forward(const torch::Tensor& x, const torch::Tensor& cond) {
  TORCH_CHECK(options.outputs() == 1,
              "ConvDiscriminator::forward scores real/fake (outputs 1); "
              "use logits() for ",
              options.outputs(), " outputs");
  auto h = body->forward(x).mean({2, 3});   // [B, F]
  auto score = out->forward(h).squeeze(1);  // [B]
  if (proj && cond.defined()) score = score + (proj->forward(cond) * h).sum(1);
  return score;
}

}  // namespace mmfuse::models
