#include "mmfuse/nn/encoders/frame_sequence.h"

#include "mmfuse/nn/encoders/pretrained.h"

namespace mmfuse::encoders {

FrameSequenceEncoderImpl::FrameSequenceEncoderImpl(FrameSequenceOptions options)
    : options(std::move(options)) {
  reset();
  // Pretrained frame weights are loaded once; clones copy parameters instead.
  this->options.frame_context().load_pretrained = false;
}

std::shared_ptr<FrameSequenceEncoderImpl> FrameSequenceEncoderImpl::create(
    const EncoderContext& ctx, const ConfigNode& cfg) {
  cfg.check_keys({"type", "frame", "temporal"});
  if (ctx.input_shape.size() != 4) {
    cfg.fail(
        "frame_sequence expects video frames with a per-item shape [K, C, H, W] (data "
        "pipeline video_frames), got rank " +
        std::to_string(ctx.input_shape.size()));
  }
  if (ctx.input_shape[0] < 1) cfg.fail("frame_sequence needs a fixed number of frames K");
  if (!cfg["frame"].is_map() || !cfg["frame"].has("type")) {
    cfg["frame"].fail("expected the per-frame image encoder, e.g. {type: lenet}");
  }
  EncoderContext frame_ctx = ctx;
  frame_ctx.modality = Modality::image;
  frame_ctx.input_shape.assign(ctx.input_shape.begin() + 1, ctx.input_shape.end());
  FrameSequenceOptions o(ctx.input_shape[0], frame_ctx, cfg["frame"]);
  const ConfigNode t = cfg["temporal"];
  std::string kind = "mean";
  if (t.is_scalar()) kind = t.as<std::string>();
  if (t.is_map()) kind = t.get<std::string>("type");
  if (kind == "mean" || kind == "max") {
    o.temporal(kind == "mean" ? TemporalPooling::mean : TemporalPooling::max);
  } else if (kind == "gru" || kind == "lstm" || kind == "transformer") {
    o.temporal(TemporalPooling::sequence);
    o.temporal_config(
        t.is_map() ? t : ConfigNode(YAML::Load("{type: " + kind + "}"), t.path(), t.source()));
  } else {
    t.fail("unknown temporal stage '" + kind + "'; known: mean, max, gru, lstm, transformer");
  }
  return std::make_shared<FrameSequenceEncoderImpl>(o);
}

void FrameSequenceEncoderImpl::reset() {
  frame_ = make_encoder(options.frame_context(), options.frame_config());
  register_module("frame", frame_.module());
  temporal_ = EncoderBlock();
  if (options.temporal() == TemporalPooling::sequence) {
    EncoderContext seq;
    seq.modality = Modality::image;
    seq.input_shape = {options.frames(), frame_->out_dim()};  // frames [K, D]
    seq.load_pretrained = options.frame_context().load_pretrained;
    temporal_ = make_encoder(seq, options.temporal_config());
    register_module("temporal", temporal_.module());
  }
}

nn::Encoded FrameSequenceEncoderImpl::encode(const data::ModalityBatch& input) {
  const torch::Tensor& x = input.data;  // [B, K, C, H, W]
  TORCH_CHECK(x.dim() == 5 && x.size(1) == options.frames(), "frame_sequence expected [B, ",
              options.frames(), ", C, H, W] frames, got ", x.sizes(),
              "; use the video_frames pipeline with frames: ", options.frames());
  const int64_t b = x.size(0), k = x.size(1);
  data::ModalityBatch per_frame{x.flatten(0, 1), input.present.repeat_interleave(k), {}};
  torch::Tensor frames = frame_->encode(per_frame).pooled.view({b, k, -1});  // [B, K, D]
  if (temporal_) {
    data::ModalityBatch seq{frames, input.present, torch::full({b}, k, torch::kInt64)};
    nn::Encoded out = temporal_->encode(seq);
    out.token_mask = torch::Tensor();  // every frame is real
    out.present = input.present;
    return out;
  }
  nn::Encoded out;
  out.pooled =
      options.temporal() == TemporalPooling::mean ? frames.mean(1) : std::get<0>(frames.max(1));
  out.tokens = frames;
  out.present = input.present;
  return out;
}

int64_t FrameSequenceEncoderImpl::out_dim() const {
  return temporal_ ? temporal_->out_dim() : frame_->out_dim();
}

int64_t FrameSequenceEncoderImpl::token_dim() const {
  return temporal_ ? temporal_->token_dim() : frame_->out_dim();
}

}  // namespace mmfuse::encoders
