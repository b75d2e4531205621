// Evaluation of a translator: reconstruction error against the real target, and how often a
// separately trained classifier of the target modality recognises the source's class in the
// generated sample (e.g. "does the image generated from a spoken 7 show a 7?").
#pragma once

#include <optional>
#include <string>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "mmfuse/data/batch.h"
#include "mmfuse/data/loader.h"
#include "mmfuse/translate/run.h"
#include "mmfuse/translate/target_classifier.h"

namespace mmfuse::translate {

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
  /// How often `aux` (the class-consistency classifier of real training targets) sees the
  /// label's class in the generated target (-1 without aux or labels).
  double aux_recognition = -1;
};
/// One pass over `loader` in eval mode (the model and aux are left in eval mode). `label`: the
/// class target the class head and aux predict ("" to skip both).
ReconMetrics reconstruction_metrics(Translator& model, data::Loader& loader,
                                    const TranslateConfig& cfg, const torch::Device& device,
                                    const std::string& label = "", TargetClassifier aux = nullptr);

struct TranslateEvalRequest {
  std::string run_dir;
  std::string data;        ///< manifest (JSONL/CSV) read with the run's preprocessing
  std::string classifier;  ///< a classifier run of the target modality (optional)
  int64_t limit = 0;       ///< only the first N samples (0: all)
  std::string report;      ///< HTML with a grid of real and generated samples ("": none)
  int64_t grid_per_class = 4;
};

/// {"samples", "mse", "bce", "recognition": {"accuracy", "real_accuracy", "per_class"}?,
///  "objective", "source", "target"}. Throws Error naming the classifier run when it does not
/// read the target modality or has no class head.
nlohmann::json evaluate_translation(const TranslateEvalRequest& request);

}  // namespace mmfuse::translate
