// build_model: a MultimodalModel from the `model:` section of a config.
//
//   model:
//     encoders:                      # one per modality, built by the encoder registry
//       image: {type: lenet, ...}
//       audio: {type: lenet, ...}
//     fusion: {type: concat}         # fusion registry; required with >= 2 encoders
//     high_level: {type: mlp, hidden: [128], dropout: 0.1, norm: layer}   # optional
//     heads:                         # one per target, built by the head registry
//       digit: {type: mlp, hidden: 100, weight: 1.0}   # weight: loss weight (default 1)
#pragma once

#include "mmfuse/core/config.h"
#include "mmfuse/models/inputs.h"
#include "mmfuse/models/model.h"
#include "mmfuse/nn/encoders/encoder.h"
#include "mmfuse/nn/fusion/fusion.h"
#include "mmfuse/nn/heads/head.h"

namespace mmfuse::models {

/// The block registries a model is built from; the built-in ones unless replaced (tests register
/// their own small blocks).
struct Registries {
  const encoders::EncoderRegistry* encoders = &encoders::encoder_registry();
  const fusion::FusionRegistry* fusions = &fusion::fusion_registry();
  const heads::HeadRegistry* heads = &heads::head_registry();
};

/// Builds every part from `model_cfg` for data described by `inputs` and assembles them.
/// Each encoder gets EncoderContext{modality, item shape, vocab} and its `pretrained:` weights
/// (unless `pretrained` is skip); the fusion gets the encoders'
/// pooled and token sizes in Modality order; the high-level block reads the fused size; each
/// head gets {in_dim, target size, kind, name}.
/// Throws ConfigError naming the config path for: no encoders, an unknown modality or one the
/// inputs lack, a missing fusion with >= 2 encoders, a fusion that needs tokens from an encoder
/// that gives none, a head for an unknown target, a target without a head, unknown block types
/// (listing the registered ones) and anything the block factories reject.
MultimodalModel build_model(const ConfigNode& model_cfg, const ModelInputs& inputs,
                            const Registries& registries = {},
                            PretrainedWeights pretrained = PretrainedWeights::load);

/// A whole config file with `inputs:`, `targets:` and `model:` sections (summary, parity):
/// ModelInputs::from_config + build_model.
MultimodalModel build_model_from_config(const ConfigNode& root, const Registries& registries = {},
                                        ModelInputs* inputs_out = nullptr);

}  // namespace mmfuse::models
