// What every trainer (classifier, retrieval, translation) does the same way: the training-set
// limit and one checked optimizer step.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <torch/torch.h>

#include "mmfuse/data/dataset.h"

namespace mmfuse::train {

/// The first `limit` samples of `samples` (all of them when limit <= 0 or beyond their count).
std::shared_ptr<const data::SampleSet> limited(std::shared_ptr<const data::SampleSet> samples,
                                               int64_t limit);

/// One optimizer step on `loss` (a scalar): throws Error when it is NaN or Inf, naming the
/// 0-based `epoch`, the `step` and `kept` (what survives, e.g. "the last good checkpoint is kept
/// at F"); otherwise zero_grad, backward, clip the gradient norm of `params` to `clip_norm` when
/// it is > 0, and step. Returns the loss value.
double checked_step(const torch::Tensor& loss, torch::optim::Optimizer& optimizer,
                    const std::vector<torch::Tensor>& params, double clip_norm, int64_t epoch,
                    int64_t step, const std::string& kept);

}  // namespace mmfuse::train
