// Named data pipelines ("image", "audio", "text", "tabular", ...), built from a dataset spec's
// per-modality config. Adding one: a file in data/ and one line in register_builtin_pipelines.
#pragma once

#include <string>

#include "mmfuse/core/limits.h"
#include "mmfuse/core/registry.h"
#include "mmfuse/data/pipeline.h"

namespace mmfuse::data {

struct PipelineContext {
  Modality modality = Modality::image;
  /// Folder that relative paths in the pipeline's config resolve against (the spec's folder).
  std::string base_dir;
  /// The dataset spec's `limits:` (image pixels, audio duration/bytes...), for the readers.
  InputLimits limits;
};

using PipelineRegistry = mmfuse::Registry<ModalityPipeline, PipelineContext>;

const PipelineRegistry& pipeline_registry();
void register_builtin_pipelines(PipelineRegistry& r);

}  // namespace mmfuse::data
