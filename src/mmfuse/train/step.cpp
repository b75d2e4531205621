#include "mmfuse/train/step.h"

#include <cmath>

#include "mmfuse/core/error.h"

namespace mmfuse::train {

std::shared_ptr<const data::SampleSet> limited(std::shared_ptr<const data::SampleSet> samples,
                                               int64_t limit) {
  if (limit <= 0 || limit >= static_cast<int64_t>(samples->samples.size())) return samples;
  auto copy = std::make_shared<data::SampleSet>(*samples);
  copy->samples.resize(static_cast<std::size_t>(limit));
  return copy;
}

double checked_step(const torch::Tensor& loss, torch::optim::Optimizer& optimizer,
                    const std::vector<torch::Tensor>& params, double clip_norm, int64_t epoch,
                    int64_t step, const std::string& kept) {
  const double value = loss.item<double>();
  if (!std::isfinite(value)) {
    throw Error("loss became " + std::string(std::isnan(value) ? "NaN" : "Inf") + " at epoch " +
                std::to_string(epoch + 1) + " step " + std::to_string(step) + "; " + kept +
                " (lower the learning rate or enable train.grad_clip_norm)");
  }
  optimizer.zero_grad();
  loss.backward();
  if (clip_norm > 0) torch::nn::utils::clip_grad_norm_(params, clip_norm);
  optimizer.step();
  return value;
}

}  // namespace mmfuse::train
