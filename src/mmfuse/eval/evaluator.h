// Runs a model over a loader (eval mode, no grad) and computes every target's metrics and loss.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mmfuse/core/collective.h"

#include "mmfuse/data/dataset.h"
#include "mmfuse/data/loader.h"
#include "mmfuse/eval/classification_metrics.h"
#include "mmfuse/eval/regression_metrics.h"
#include "mmfuse/models/model.h"

namespace mmfuse::eval {

struct TargetResult {
  heads::TaskKind kind = heads::TaskKind::classification;
  ClassificationReport classification;  ///< classification targets
  RegressionReport regression;          ///< regression targets
  double loss = 0.0;                    ///< mean task loss (default loss of its kind)
};

struct EvalResult {
  int64_t samples = 0;
  double loss = 0.0;  ///< weighted sum of the targets' mean losses
  std::map<std::string, TargetResult> targets;
  /// Accuracy of the first class target, else minus the first regression target's MAE.
  double primary = 0.0;
  std::string primary_name;  ///< "digit accuracy" / "value -MAE"
  double seconds = 0.0;

  /// {"samples", "loss", "primary", "targets": {name: {"kind", "loss", "report"}}}
  nlohmann::json to_json(const data::Dataset* dataset = nullptr) const;
};

struct EvalOptions {
  /// Applied to every batch before the forward pass (robustness: drop or corrupt a modality).
  std::function<void(data::Batch&)> transform;
  torch::Device device = torch::kCPU;
  int64_t top_k = 5;
  /// The forward pass of the model given to evaluate (a loaded run's inference plan,
  /// runtime/plan.h); empty: model->forward.
  std::function<models::ModelOutput(const data::Batch&)> forward;
  /// Data-parallel runs: the loader reads this process's shard; outputs and targets are gathered
  /// from every process before the metrics, so every process gets the metrics of the whole set.
  const Collective* collective = nullptr;
};

/// Where evaluate() takes its batches from: the next one, or nullopt after the last.
using BatchSource = std::function<std::optional<data::Batch>()>;

/// Runs the model over every batch of `next_batch` and computes the metrics.
EvalResult evaluate(models::MultimodalModel& model, const BatchSource& next_batch,
                    const EvalOptions& options = {});

/// Runs one full epoch of `loader` (which should not shuffle or augment).
EvalResult evaluate(models::MultimodalModel& model, data::Loader& loader,
                    const EvalOptions& options = {});

/// Marks modality `m` absent in every sample of `batch` (data zeroed, present false).
void drop_modality(data::Batch& batch, Modality m);

}  // namespace mmfuse::eval
