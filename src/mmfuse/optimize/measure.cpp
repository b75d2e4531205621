#include "mmfuse/optimize/measure.h"

#include <cmath>
#include <filesystem>
#include <functional>

#include "mmfuse/data/loader.h"
#include "mmfuse/eval/evaluator.h"
#include "mmfuse/train/bench.h"

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
  eval::EvalOptions eo;
  eo.forward = [&run](const data::Batch& b) { return run.forward(b); };
  auto r = eval::evaluate(model, loader, eo);
  const auto& c = r.targets.at(run.class_target).classification;
  return {100.0 * c.accuracy, 100.0 * c.macro_f1};
}

}  // namespace

ModelFigures measure_run(const runtime::Run& run, const OptimizeOptions& options) {
  ModelFigures f;
  // A run trained without a val split (a refit on train + val) has no val figures and is timed
  // on its training split.
  const bool has_val = run.dataset->spec().has_val_split();
  const data::Split timed = has_val ? data::Split::val : data::Split::train;
  if (has_val) {
    std::tie(f.val_accuracy, f.val_macro_f1) = split_accuracy_f1(run, data::Split::val, options);
  } else {
    f.val_accuracy = f.val_macro_f1 = std::nan("");
  }
  std::tie(f.test_accuracy, f.test_macro_f1) = split_accuracy_f1(run, data::Split::test, options);
  // What eval, predict and serve run (Run::forward): the inference plan of a float run, the
  // module path of an int8 run (its quantized layers are hooked into its modules).
  const std::function<void(const data::Batch&)> forward = [&run](const data::Batch& b) {
    (void)run.forward(b);
  };
  auto one = split_batches(run, timed, 1, 1, options.threads);
  auto many = split_batches(run, timed, options.batch, options.batch, options.threads);
  f.batch1_p50_ms = train::p50_forward_ms(forward, one.front(), 10, options.latency_steps);
  f.batch = many.front().size();
  f.batch_p50_ms = train::p50_forward_ms(forward, many.front(), 10, options.latency_steps);
  f.weights_bytes = static_cast<int64_t>(std::filesystem::file_size(run.weights_file));
  return f;
}

}  // namespace mmfuse::optimize
