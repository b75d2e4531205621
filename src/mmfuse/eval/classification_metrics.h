// Classification metrics accumulated over batches: accuracy, top-k, precision/recall/F1 (macro,
// weighted, per class) and the confusion matrix.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

namespace mmfuse::eval {

struct ClassReport {
  double precision = 0, recall = 0, f1 = 0;
  int64_t support = 0;  ///< true samples of this class
};

struct ClassificationReport {
  int64_t count = 0;
  double accuracy = 0;
  double top_k_accuracy = 0;  ///< with k = ClassificationMetrics::top_k
  int64_t top_k = 1;
  double macro_precision = 0, macro_recall = 0, macro_f1 = 0;
  double weighted_precision = 0, weighted_recall = 0, weighted_f1 = 0;
  std::vector<ClassReport> per_class;
  /// confusion[true][predicted]
  std::vector<std::vector<int64_t>> confusion;

  nlohmann::json to_json(const std::vector<std::string>& class_names = {}) const;
};

/// Accumulates predictions; samples whose target is < 0 (unknown) are ignored.
/// Precision of a class never predicted is 0 (sklearn's zero_division=0 convention).
class ClassificationMetrics {
 public:
  explicit ClassificationMetrics(int64_t num_classes, int64_t top_k = 5);

  /// logits: [B, C], target: [B] int64 (-1 = unknown, skipped).
  void add(const torch::Tensor& logits, const torch::Tensor& target);
  ClassificationReport report() const;
  int64_t count() const { return count_; }

 private:
  int64_t classes_, top_k_, count_ = 0, top_k_hits_ = 0;
  std::vector<int64_t> confusion_;  // row-major [true, predicted]
};

}  // namespace mmfuse::eval
