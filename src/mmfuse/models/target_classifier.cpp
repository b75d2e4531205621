#include "mmfuse/models/target_classifier.h"

#include <string>

#include "mmfuse/core/error.h"
#include "mmfuse/data/batch.h"

namespace mmfuse::models {

TargetClassifierImpl::TargetClassifierImpl(TargetClassifierOptions options_)
    : options(std::move(options_)) {
  reset();
}

void TargetClassifierImpl::reset() {
  if (options.classes() < 2) {
    throw Error("the consistency classifier needs at least 2 classes, got " +
                std::to_string(options.classes()));
  }
  if (options.encoder().is_null()) {
    conv_ =
        register_module("conv", ConvDiscriminator(ConvDiscriminatorOptions(options.in_shape(), 0)
                                                      .channels(options.channels())
                                                      .outputs(options.classes())));
    return;
  }
  const ConfigNode& cfg = options.encoder();
  encoders::EncoderContext ctx;
  ctx.modality = options.target();
  ctx.input_shape = options.in_shape();
  encoder_ = encoders::encoder_registry().make(cfg.get<std::string>("type"), ctx, cfg);
  register_module("encoder", encoder_.module());
  head_ = register_module("head", torch::nn::Linear(encoder_->out_dim(), options.classes()));
}

torch::Tensor TargetClassifierImpl::logits(const torch::Tensor& x) {
  if (conv_) return conv_->logits(x);
  data::ModalityBatch batch;
  batch.data = x;
  batch.present =
      torch::ones({x.size(0)}, torch::TensorOptions().dtype(torch::kBool).device(x.device()));
  return head_->forward(encoder_->encode(batch).pooled);  // [B, D] -> [B, classes]
}

}  // namespace mmfuse::models
