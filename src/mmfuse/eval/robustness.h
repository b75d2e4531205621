// Robustness of a trained model on one sample set, for the first class target ("primary"):
//   ablation    accuracy with each used modality removed (absent in every sample), with all of
//               them removed (the model's absent-input answer), and with none removed;
//   noise       accuracy with one modality corrupted at each level (eval/corruption.h), the
//               others clean; one curve per modality with a noise model (image, audio, text).
// Each curve is summarised by MultiBench's relative robustness: the area under accuracy vs level
// (trapezoid), divided by the level range so it lies in [0, 1] (noise_auc). Effective robustness
// here is that area minus the clean accuracy (MultiBench subtracts a late-fusion baseline's curve
// shifted to the same clean accuracy; with the model as its own baseline that is the average
// accuracy lost to noise, <= 0 when noise only hurts).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "mmfuse/data/dataset.h"
#include "mmfuse/models/model.h"

namespace mmfuse::eval {

struct RobustnessOptions {
  std::vector<double> levels = {0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9};
  /// Audio noise files; empty: no audio noise curve (ablation still covers audio).
  std::vector<std::string> noise_files;
  uint64_t seed = 0;
  int64_t batch_size = 64;
  int threads = 2;  ///< loader workers
  torch::Device device = torch::kCPU;
};

struct NoiseCurve {
  Modality modality = Modality::image;
  std::vector<double> accuracy;  ///< one per level
  double auc = 0.0;              ///< relative robustness
  double effective = 0.0;        ///< auc - clean accuracy
};

struct RobustnessResult {
  std::string target;                                    ///< the class target measured
  double clean = 0.0;                                    ///< accuracy with every modality clean
  std::vector<std::pair<std::string, double>> ablation;  ///< "all", "without image", ..., "none"
  std::vector<double> levels;
  std::vector<NoiseCurve> curves;  ///< in Modality order

  /// Mean of the curves' auc (0 when there is none).
  double mean_auc() const;
  /// report.h's "robustness" section: {"target", "clean", "levels", "curves", "auc",
  /// "effective", "mean_auc"}.
  nlohmann::json robustness_json() const;
  /// report.h's "ablation" section: [{"name", "accuracy"}, ...].
  nlohmann::json ablation_json() const;
};

/// Area under (levels, accuracy) by the trapezoid rule over the level range, divided by that
/// range. Requires: levels increasing, same sizes, at least 2 points (1 point: that value).
double noise_auc(const std::vector<double>& levels, const std::vector<double>& accuracy);

/// Runs the ablation and the noise curves. Throws UsageError when the model has no class target.
RobustnessResult evaluate_robustness(models::MultimodalModel& model,
                                     std::shared_ptr<const data::Dataset> dataset,
                                     std::shared_ptr<const data::SampleSet> samples,
                                     const RobustnessOptions& options = {});

}  // namespace mmfuse::eval
