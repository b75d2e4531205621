#include "mmfuse/train/step.h"

namespace mmfuse::train {

std::shared_ptr<const data::SampleSet> limited(std::shared_ptr<const data::SampleSet> samples,
                                               int64_t limit) {
  if (limit <= 0 || limit >= static_cast<int64_t>(samples->samples.size())) return samples;
  auto copy = std::make_shared<data::SampleSet>(*samples);
  copy->samples.resize(static_cast<std::size_t>(limit));
  return copy;
}

}  // namespace mmfuse::train
