// A translation run directory (`mmfuse translate train`, or `mmfuse train` on a config with
// `task: translate`):
//   config.yaml          the resolved config (data path absolute)
//   dataset.json         fitted preprocessing, so inputs are read exactly as in training
//   model.safetensors    the translator's selected weights (best validation reconstruction)
//   discriminator.safetensors   GAN only
//   metrics.jsonl, summary.json
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "mmfuse/core/config.h"
#include "mmfuse/data/dataset.h"
#include "mmfuse/translate/translator.h"

namespace mmfuse::translate {

struct TranslateRun {
  std::string dir;
  ConfigNode config;
  TranslateConfig tcfg;
  std::shared_ptr<data::Dataset> dataset;
  Translator model{nullptr};
};

/// The translator a config and fitted dataset describe (fresh weights).
Translator build_translator(const ConfigNode& root, const data::Dataset& dataset);

/// Loads a finished translation run in eval mode; throws Error naming the missing file or
/// saying the folder holds another kind of run.
TranslateRun load_translate_run(const std::string& dir);

/// The name of the dataset's first class target (the digit), or "" when it has none.
std::string first_class_target(const data::Dataset& dataset);

}  // namespace mmfuse::translate
