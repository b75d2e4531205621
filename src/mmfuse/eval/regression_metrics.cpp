#include "mmfuse/eval/regression_metrics.h"

#include <cmath>

namespace mmfuse::eval {

void RegressionMetrics::add(const torch::Tensor& prediction, const torch::Tensor& target) {
  TORCH_CHECK(prediction.numel() == target.numel(), "regression metrics: prediction has ",
              prediction.numel(), " values, target ", target.numel());
  auto p = prediction.detach().to(torch::kCPU, torch::kDouble).contiguous().view(-1);
  auto t = target.detach().to(torch::kCPU, torch::kDouble).contiguous().view(-1);
  const double* pp = p.data_ptr<double>();
  const double* tp = t.data_ptr<double>();
  for (int64_t i = 0; i < p.numel(); ++i) {
    if (std::isnan(tp[i])) continue;
    pred_.push_back(pp[i]);
    target_.push_back(tp[i]);
  }
}

RegressionReport RegressionMetrics::report() const {
  RegressionReport r;
  const std::size_t n = pred_.size();
  r.count = static_cast<int64_t>(n);
  if (n == 0) return r;
  double abs_sum = 0, sq_sum = 0, mp = 0, mt = 0;
  for (std::size_t i = 0; i < n; ++i) {
    double d = pred_[i] - target_[i];
    abs_sum += std::abs(d);
    sq_sum += d * d;
    mp += pred_[i];
    mt += target_[i];
  }
  r.mae = abs_sum / n;
  r.rmse = std::sqrt(sq_sum / n);
  mp /= n;
  mt /= n;
  double cov = 0, vp = 0, vt = 0;
  for (std::size_t i = 0; i < n; ++i) {
    cov += (pred_[i] - mp) * (target_[i] - mt);
    vp += (pred_[i] - mp) * (pred_[i] - mp);
    vt += (target_[i] - mt) * (target_[i] - mt);
  }
  r.pearson = vp > 0 && vt > 0 ? cov / std::sqrt(vp * vt) : 0.0;

  int64_t tp = 0, fp = 0, fn = 0, correct = 0, nonzero = 0, seven = 0;
  for (std::size_t i = 0; i < n; ++i) {
    auto clip7 = [](double v) { return std::min(3.0, std::max(-3.0, std::round(v))); };
    seven += clip7(pred_[i]) == clip7(target_[i]);
    if (target_[i] == 0.0) continue;
    ++nonzero;
    bool truth = target_[i] > 0, guess = pred_[i] > 0;
    correct += truth == guess;
    tp += truth && guess;
    fp += !truth && guess;
    fn += truth && !guess;
  }
  r.seven_class_accuracy = static_cast<double>(seven) / n;
  if (nonzero > 0) {
    r.binary_accuracy = static_cast<double>(correct) / nonzero;
    double prec = tp + fp > 0 ? static_cast<double>(tp) / (tp + fp) : 0.0;
    double rec = tp + fn > 0 ? static_cast<double>(tp) / (tp + fn) : 0.0;
    r.binary_f1 = prec + rec > 0 ? 2 * prec * rec / (prec + rec) : 0.0;
  }
  return r;
}

nlohmann::json RegressionReport::to_json() const {
  return {{"count", count},
          {"mae", mae},
          {"rmse", rmse},
          {"pearson", pearson},
          {"binary_accuracy", binary_accuracy},
          {"binary_f1", binary_f1},
          {"seven_class_accuracy", seven_class_accuracy}};
}

}  // namespace mmfuse::eval
