// The built-in data pipelines, one line each.
#include "mmfuse/data/pipeline_registry.h"

#include "mmfuse/data/audio/audio_pipeline.h"

namespace mmfuse::data {

void register_builtin_pipelines(PipelineRegistry& r) {
  r.add<audio::AudioPipeline>();
}

const PipelineRegistry& pipeline_registry() {
  static const PipelineRegistry registry = [] {
    PipelineRegistry r("data pipeline");
    register_builtin_pipelines(r);
    return r;
  }();
  return registry;
}

}  // namespace mmfuse::data
