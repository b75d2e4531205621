#include "mmfuse/eval/classification_metrics.h"

#include "mmfuse/core/error.h"

namespace mmfuse::eval {

ClassificationMetrics::ClassificationMetrics(int64_t num_classes, int64_t top_k)
    : classes_(num_classes),
      top_k_(std::max<int64_t>(1, std::min(top_k, num_classes))),
      confusion_(static_cast<std::size_t>(num_classes * num_classes), 0) {
  if (num_classes < 1) throw Error("classification metrics need at least one class");
}

void ClassificationMetrics::add(const torch::Tensor& logits, const torch::Tensor& target) {
  TORCH_CHECK(logits.dim() == 2 && logits.size(1) == classes_, "expected logits [B, ", classes_,
              "], got ", logits.sizes());
  TORCH_CHECK(target.dim() == 1 && target.size(0) == logits.size(0), "expected target [",
              logits.size(0), "], got ", target.sizes());
  auto lg = logits.detach().to(torch::kCPU, torch::kFloat);
  auto tg = target.detach().to(torch::kCPU, torch::kLong);
  auto pred = lg.argmax(1);
  auto topk = std::get<1>(lg.topk(top_k_, 1));
  auto tg_a = tg.accessor<int64_t, 1>();
  auto pred_a = pred.accessor<int64_t, 1>();
  auto topk_a = topk.accessor<int64_t, 2>();
  for (int64_t i = 0; i < tg.size(0); ++i) {
    int64_t t = tg_a[i];
    if (t < 0) continue;
    TORCH_CHECK(t < classes_, "target class ", t, " out of range for ", classes_, " classes");
    ++confusion_[static_cast<std::size_t>(t * classes_ + pred_a[i])];
    ++count_;
    for (int64_t k = 0; k < top_k_; ++k) {
      if (topk_a[i][k] == t) {
        ++top_k_hits_;
        break;
      }
    }
  }
}

ClassificationReport ClassificationMetrics::report() const {
  ClassificationReport r;
  r.count = count_;
  r.top_k = top_k_;
  r.confusion.assign(static_cast<std::size_t>(classes_),
                     std::vector<int64_t>(static_cast<std::size_t>(classes_), 0));
  std::vector<int64_t> predicted(static_cast<std::size_t>(classes_), 0);
  int64_t correct = 0;
  for (int64_t t = 0; t < classes_; ++t) {
    for (int64_t p = 0; p < classes_; ++p) {
      int64_t n = confusion_[static_cast<std::size_t>(t * classes_ + p)];
      r.confusion[t][p] = n;
      predicted[p] += n;
      if (t == p) correct += n;
    }
  }
  if (count_ == 0) return r;
  r.accuracy = static_cast<double>(correct) / count_;
  r.top_k_accuracy = static_cast<double>(top_k_hits_) / count_;
  int64_t present_classes = 0;
  for (int64_t c = 0; c < classes_; ++c) {
    ClassReport cr;
    int64_t tp = r.confusion[c][c];
    for (int64_t p = 0; p < classes_; ++p) cr.support += r.confusion[c][p];
    cr.precision = predicted[c] > 0 ? static_cast<double>(tp) / predicted[c] : 0.0;
    cr.recall = cr.support > 0 ? static_cast<double>(tp) / cr.support : 0.0;
    cr.f1 = cr.precision + cr.recall > 0 ? 2 * cr.precision * cr.recall / (cr.precision + cr.recall)
                                         : 0.0;
    r.per_class.push_back(cr);
    // Macro averages over the classes that occur in the targets or the predictions (sklearn
    // averages over the labels present in either).
    if (cr.support > 0 || predicted[c] > 0) {
      ++present_classes;
      r.macro_precision += cr.precision;
      r.macro_recall += cr.recall;
      r.macro_f1 += cr.f1;
    }
    double w = static_cast<double>(cr.support) / count_;
    r.weighted_precision += w * cr.precision;
    r.weighted_recall += w * cr.recall;
    r.weighted_f1 += w * cr.f1;
  }
  if (present_classes > 0) {
    r.macro_precision /= present_classes;
    r.macro_recall /= present_classes;
    r.macro_f1 /= present_classes;
  }
  return r;
}

nlohmann::json ClassificationReport::to_json(const std::vector<std::string>& class_names) const {
  nlohmann::json per = nlohmann::json::array();
  for (std::size_t c = 0; c < per_class.size(); ++c) {
    per.push_back({{"class", c < class_names.size() ? class_names[c] : std::to_string(c)},
                   {"precision", per_class[c].precision},
                   {"recall", per_class[c].recall},
                   {"f1", per_class[c].f1},
                   {"support", per_class[c].support}});
  }
  return {{"count", count},
          {"accuracy", accuracy},
          {"top_k", top_k},
          {"top_k_accuracy", top_k_accuracy},
          {"macro", {{"precision", macro_precision}, {"recall", macro_recall}, {"f1", macro_f1}}},
          {"weighted",
           {{"precision", weighted_precision}, {"recall", weighted_recall}, {"f1", weighted_f1}}},
          {"per_class", per},
          {"confusion", confusion}};
}

}  // namespace mmfuse::eval
