// What a translator (models/translator.h) is measured by during training and evaluation: the
// reconstruction error of generated targets, and how often classifiers see the source's class
// in them.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include <torch/torch.h>

#include "mmfuse/core/collective.h"
#include "mmfuse/data/batch.h"
#include "mmfuse/data/loader.h"
#include "mmfuse/models/translator.h"

namespace mmfuse::eval {

/// The rows of a batch that have both the source and the target, on `device`.
struct Paired {
  data::ModalityBatch source;
  torch::Tensor target;  ///< [N, C, H, W]
  torch::Tensor rows;    ///< [N] int64: their rows in the batch
};
std::optional<Paired> paired(const data::Batch& batch, Modality source, Modality target,
                             const torch::Device& device);

struct ReconMetrics {
  double mse = 0, bce = 0;  ///< means over all target elements (generated in [0, 1])
  int64_t samples = 0;
  /// The class head's accuracy on the samples with a label (-1 without a class head or labels).
  double class_accuracy = -1;
  /// How often `recognise` (a classifier of real targets) sees the label's class in the
  /// generated target (-1 without one or without labels).
  double aux_recognition = -1;
};

struct ReconOptions {
  torch::Device device = torch::kCPU;
  /// The class target the class head and `recognise` predict ("" to skip both).
  std::string label;
  /// Generated targets [N, C, H, W] in [0, 1] -> class logits [N, K]; empty: none.
  std::function<torch::Tensor(const torch::Tensor&)> recognise;
  /// Data-parallel runs: the loader reads this process's shard; sums are combined.
  const Collective* collective = nullptr;
};

/// One pass over `loader` in eval mode (the model is left in eval mode).
ReconMetrics reconstruction_metrics(models::Translator& model, data::Loader& loader,
                                    const models::TranslateConfig& cfg,
                                    const ReconOptions& options = {});

}  // namespace mmfuse::eval
