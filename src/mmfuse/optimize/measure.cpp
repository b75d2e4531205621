#include "mmfuse/optimize/measure.h"

#include <algorithm>
#include <chrono>
#include <filesystem>

#include "mmfuse/data/loader.h"
#include "mmfuse/eval/evaluator.h"

namespace mmfuse::optimize {

namespace {

// Accuracy and macro F1 (percent) of the run's class target on a whole split.
std::pair<double, double> split_accuracy_f1(const runtime::Run& run, data::Split split,
                                            const OptimizeOptions& options) {
  data::LoaderOptions lo;
  lo.batch_size = options.eval_batch;
  lo.shuffle = false;
  lo.train = false;
  lo.threads = options.threads;
  data::Loader loader(run.dataset, run.dataset->read_split(split), lo);
  auto model = run.heads();
  auto r = eval::evaluate(model, loader);
  const auto& c = r.targets.at(run.class_target).classification;
  return {100.0 * c.accuracy, 100.0 * c.macro_f1};
}

}  // namespace

double p50_forward_ms(models::MultimodalModel& model, const data::Batch& batch, int64_t steps) {
  torch::NoGradGuard no_grad;
  model->eval();
  for (int i = 0; i < 10; ++i) model->forward(batch);
  std::vector<double> ms;
  for (int64_t i = 0; i < steps; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    model->forward(batch);
    ms.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
  return ms[ms.size() / 2];
}

ModelFigures measure_run(const runtime::Run& run, const OptimizeOptions& options) {
  ModelFigures f;
  std::tie(f.val_accuracy, f.val_macro_f1) = split_accuracy_f1(run, data::Split::val, options);
  std::tie(f.test_accuracy, f.test_macro_f1) = split_accuracy_f1(run, data::Split::test, options);
  auto model = run.heads();
  auto one = split_batches(run, data::Split::val, 1, 1, options.threads);
  auto many = split_batches(run, data::Split::val, options.batch, options.batch, options.threads);
  f.batch1_p50_ms = p50_forward_ms(model, one.front(), options.latency_steps);
  f.batch = many.front().size();
  f.batch_p50_ms = p50_forward_ms(model, many.front(), options.latency_steps);
  f.weights_bytes = static_cast<int64_t>(std::filesystem::file_size(run.weights_file));
  return f;
}

}  // namespace mmfuse::optimize
