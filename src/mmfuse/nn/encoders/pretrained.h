// Building an encoder from its config with the `pretrained:` weights it names (nn/pretrained.h).
#pragma once

#include "mmfuse/nn/encoders/encoder.h"
#include "mmfuse/nn/pretrained.h"

namespace mmfuse::encoders {

using nn::load_pretrained;
using nn::PretrainedOptions;

/// The encoder of `cfg` (its `type` from `registry`), with its `pretrained:` weights loaded when
/// ctx.load_pretrained. Every place that builds an encoder from a config goes through here, so
/// every registered encoder accepts `pretrained:`. Errors name the config path.
EncoderBlock make_encoder(const EncoderContext& ctx, const ConfigNode& cfg,
                          const EncoderRegistry& registry = encoder_registry());

}  // namespace mmfuse::encoders
