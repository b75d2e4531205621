// The training-set limit (train.limit_train).
#pragma once

#include <cstdint>
#include <memory>

#include "mmfuse/data/dataset.h"

namespace mmfuse::train {

/// The first `limit` samples of `samples` (all of them when limit <= 0 or beyond their count).
std::shared_ptr<const data::SampleSet> limited(std::shared_ptr<const data::SampleSet> samples,
                                               int64_t limit);

}  // namespace mmfuse::train
