#include "mmfuse/eval/robustness.h"

#include <spdlog/spdlog.h>

#include "mmfuse/eval/corruption.h"
#include "mmfuse/eval/evaluator.h"

namespace mmfuse::eval {

using nlohmann::json;

double noise_auc(const std::vector<double>& levels, const std::vector<double>& accuracy) {
  if (levels.size() != accuracy.size() || levels.empty()) {
    throw Error("noise_auc: expected as many accuracies as levels (and at least one), got " +
                std::to_string(accuracy.size()) + " and " + std::to_string(levels.size()));
  }
  if (levels.size() == 1) return accuracy[0];
  double area = 0.0;
  for (std::size_t i = 1; i < levels.size(); ++i) {
    if (levels[i] <= levels[i - 1]) throw Error("noise_auc: levels must increase");
    area += 0.5 * (accuracy[i] + accuracy[i - 1]) * (levels[i] - levels[i - 1]);
  }
  return area / (levels.back() - levels.front());
}

double RobustnessResult::mean_auc() const {
  if (curves.empty()) return 0.0;
  double s = 0.0;
  for (const auto& c : curves) s += c.auc;
  return s / static_cast<double>(curves.size());
}

json RobustnessResult::robustness_json() const {
  json c = json::object(), auc = json::object(), eff = json::object();
  for (const auto& curve : curves) {
    const std::string name(to_string(curve.modality));
    c[name] = curve.accuracy;
    auc[name] = curve.auc;
    eff[name] = curve.effective;
  }
  return {{"target", target}, {"clean", clean},   {"levels", levels},      {"curves", c},
          {"auc", auc},       {"effective", eff}, {"mean_auc", mean_auc()}};
}

json RobustnessResult::ablation_json() const {
  json out = json::array();
  for (const auto& [name, acc] : ablation) out.push_back({{"name", name}, {"accuracy", acc}});
  return out;
}

namespace {

std::string primary_class_target(models::MultimodalModel& model) {
  for (const auto& h : model->heads()) {
    if (h.spec.kind == heads::TaskKind::classification) return h.target;
  }
  throw UsageError("robustness needs a classification target; the model has none");
}

}  // namespace

RobustnessResult evaluate_robustness(models::MultimodalModel& model,
                                     std::shared_ptr<const data::Dataset> dataset,
                                     std::shared_ptr<const data::SampleSet> samples,
                                     const RobustnessOptions& options) {
  RobustnessResult r;
  r.target = primary_class_target(model);
  r.levels = options.levels;
  data::LoaderOptions lo;
  lo.batch_size = options.batch_size;
  lo.shuffle = false;
  lo.seed = options.seed;
  lo.threads = options.threads;
  auto accuracy = [&](const data::LoaderOptions& o, const std::function<void(data::Batch&)>& t) {
    data::Loader loader(dataset, samples, o);
    EvalOptions eo;
    eo.transform = t;
    eo.device = options.device;
    return evaluate(model, loader, eo).targets.at(r.target).classification.accuracy;
  };

  const auto& mods = dataset->modalities();
  r.clean = accuracy(lo, {});
  r.ablation.emplace_back("all", r.clean);
  for (Modality m : mods) {
    r.ablation.emplace_back("without " + std::string(to_string(m)),
                            accuracy(lo, [m](data::Batch& b) { drop_modality(b, m); }));
  }
  r.ablation.emplace_back("none", accuracy(lo, [&mods](data::Batch& b) {
                            for (Modality m : mods) drop_modality(b, m);
                          }));

  for (Modality m : mods) {
    if (m == Modality::tabular) continue;  // no noise model
    if (m == Modality::audio && options.noise_files.empty()) {
      spdlog::warn("robustness: no noise files, so no audio noise curve (give --noise-dir)");
      continue;
    }
    NoiseCurve c;
    c.modality = m;
    for (double level : options.levels) {  // level 0 too: through the override path, clean
      data::LoaderOptions noisy = lo;
      noisy.features_override = corruption(*dataset, m, level, options.noise_files);
      c.accuracy.push_back(accuracy(noisy, {}));
      spdlog::debug("robustness: {} noise {:.2f}: accuracy {:.4f}", to_string(m), level,
                    c.accuracy.back());
    }
    c.auc = noise_auc(options.levels, c.accuracy);
    c.effective = c.auc - r.clean;
    r.curves.push_back(std::move(c));
  }
  return r;
}

}  // namespace mmfuse::eval
