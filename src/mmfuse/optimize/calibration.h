// Calibration and per-layer sensitivity of a supervised run's model (int8 quantization).
#pragma once

#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mmfuse/data/batch.h"
#include "mmfuse/nn/quant/quantize.h"
#include "mmfuse/optimize/options.h"
#include "mmfuse/runtime/run.h"

namespace mmfuse::optimize {

/// Up to `n` samples of `split` (seeded choice, spread over the split) as batches of `batch`.
/// Throws Error naming the run and the split when it has no samples or cannot be read.
std::vector<data::Batch> split_batches(const runtime::Run& run, data::Split split, int64_t n,
                                       int64_t batch, int threads);

/// Runs `model` (eval mode, no autograd) on `batches` while observing every quantizable layer.
std::map<std::string, nn::quant::LayerObservation> calibrate_model(
    models::MultimodalModel& model, const std::vector<data::Batch>& batches);

/// Accuracy (percent) of `target`'s logits over `batches`, and the logits themselves.
struct BatchScores {
  double accuracy = 0;
  std::vector<torch::Tensor> logits;
};
BatchScores score_batches(models::MultimodalModel& model, const std::vector<data::Batch>& batches,
                          const std::string& target);

/// One layer quantized alone: what it costs.
struct LayerSensitivity {
  std::string name, kind;
  double accuracy_drop = 0;  ///< validation accuracy points lost (fp32 - int8)
  double logit_change = 0;   ///< max |int8 - fp32| / max |fp32| over the logits
  bool quantizable = true;   ///< false: the quantizer left it float (reason below)
  bool kept_float = false;   ///< over the threshold (or asked): stays float32
  std::string reason;
  nlohmann::json to_json() const;
};

/// Quantizes each layer of `model` alone (the others float) and measures it on `val`.
std::vector<LayerSensitivity> layer_sensitivity(
    models::MultimodalModel& model, const std::map<std::string, nn::quant::LayerObservation>& obs,
    const OptimizeOptions& options, const std::vector<data::Batch>& val, const std::string& target);

}  // namespace mmfuse::optimize
