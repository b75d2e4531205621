// Regression metrics: MAE, RMSE, Pearson correlation; and for sentiment-style targets (scores in
// [-3, 3], as in CMU-MOSI/MOSEI) binary accuracy/F1 (negative vs positive, zero targets excluded)
// and 7-class accuracy (scores rounded and clipped to [-3, 3]).
#pragma once

#include <cstdint>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

namespace mmfuse::eval {

struct RegressionReport {
  int64_t count = 0;
  double mae = 0, rmse = 0, pearson = 0;
  double binary_accuracy = 0, binary_f1 = 0;  ///< sign agreement, zero targets excluded
  double seven_class_accuracy = 0;
  nlohmann::json to_json() const;
};

/// Accumulates predictions and targets ([B] or [B, K]; every element counts as one value).
/// NaN targets (unknown) are skipped.
class RegressionMetrics {
 public:
  void add(const torch::Tensor& prediction, const torch::Tensor& target);
  RegressionReport report() const;
  int64_t count() const { return static_cast<int64_t>(pred_.size()); }

 private:
  std::vector<double> pred_, target_;
};

}  // namespace mmfuse::eval
