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
#include "mmfuse/models/target_classifier.h"
#include "mmfuse/runtime/run.h"

namespace mmfuse::translate {

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
