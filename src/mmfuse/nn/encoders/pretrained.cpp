#include "mmfuse/nn/encoders/pretrained.h"

namespace mmfuse::encoders {

EncoderBlock make_encoder(const EncoderContext& ctx, const ConfigNode& cfg,
                          const EncoderRegistry& registry) {
  EncoderBlock block =
      registry.make(cfg.get<std::string>("type"), ctx, nn::without_pretrained(cfg));
  if (ctx.load_pretrained) nn::load_configured_pretrained(*block.module(), cfg, "encoder");
  return block;
}

}  // namespace mmfuse::encoders
