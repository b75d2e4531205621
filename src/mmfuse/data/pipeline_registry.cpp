// The built-in data pipelines, one line each.
#include "mmfuse/data/pipeline_registry.h"

#include "mmfuse/data/audio/audio_pipeline.h"
#include "mmfuse/data/image/image_pipeline.h"
#include "mmfuse/data/tabular/tabular_pipeline.h"
#include "mmfuse/data/text/text_pipeline.h"
#include "mmfuse/data/text/wordpiece_pipeline.h"
#include "mmfuse/data/video/video_frames_pipeline.h"

namespace mmfuse::data {

void register_builtin_pipelines(PipelineRegistry& r) {
  r.add<image::ImagePipeline>();
  r.add<audio::AudioPipeline>();
  r.add<text::TextPipeline>();
  r.add<text::WordPiecePipeline>();
  r.add<tabular::TabularPipeline>();
  r.add<video::VideoFramesPipeline>();
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
