// A batch's targets from its samples, as the loader collates them.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "mmfuse/data/dataset.h"

namespace mmfuse::data {

/// Every target of `ds` over `samples` (in order): a class target is [B] int64, its label
/// map's index (-1 where a sample has no label); a regression target is [B, K] float (NaN where
/// unknown, and past the end of a shorter vector).
std::map<std::string, torch::Tensor> collate_targets(const Dataset& ds,
                                                     const std::vector<const Sample*>& samples);

}  // namespace mmfuse::data
