#include "mmfuse/runtime/run.h"

#include <filesystem>

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"
#include "mmfuse/core/hash.h"
#include "mmfuse/core/safetensors.h"
#include "mmfuse/runtime/ensemble.h"
#include "mmfuse/runtime/frozen_memo.h"

namespace mmfuse::runtime {

namespace fs = std::filesystem;

namespace {

[[noreturn]] void wrong_task(const Run& run, models::TaskKind wanted) {
  throw Error(run.dir + " is a " + models::to_string(run.task.kind) + " run; give a run trained " +
              "with task: " + models::to_string(wanted));
}

}  // namespace

models::MultimodalModel Run::heads() const {
  if (task.kind != models::TaskKind::supervised) wrong_task(*this, models::TaskKind::supervised);
  return model.heads;
}

models::ModelOutput Run::forward(const data::Batch& batch) const {
  torch::NoGradGuard no_grad;
  return plan ? plan->forward(batch) : heads()->forward(batch);
}

models::TwoTower Run::towers() const {
  if (task.kind != models::TaskKind::retrieval) wrong_task(*this, models::TaskKind::retrieval);
  return model.towers;
}

models::Translator Run::translator() const {
  if (task.kind != models::TaskKind::translate) wrong_task(*this, models::TaskKind::translate);
  return model.translator;
}

std::shared_ptr<const Run> load_run(const std::string& dir, const RunLoadOptions& options) {
  for (const std::string& f :
       {std::string("config.yaml"), std::string("dataset.json"), options.weights}) {
    if (!fs::exists(fs::path(dir) / f)) {
      throw Error(dir + ": no " + f + "; give the folder of a finished `mmfuse train` run");
    }
  }
  auto run = std::make_shared<Run>();
  run->dir = dir;
  if (options.onednn_gemm) run->gemm = nn::acquire_dnnl_gemm();
  run->config = ConfigNode::load_file((fs::path(dir) / "config.yaml").string());
  run->task = models::TaskSpec::from_config(run->config);
  data::DatasetOptions dataset_options;
  dataset_options.ram_cache_cap_bytes = options.ram_cache_cap_bytes;
  auto dataset = data::Dataset::load((fs::path(dir) / "dataset.json").string(), dataset_options);
  run->dataset = dataset;
  run->class_target = models::first_class_target(*dataset);
  if (run->config.has("ensemble")) {  // `mmfuse ensemble`'s runs (ensemble.h)
    run->model.kind = run->task.kind;
    if (run->task.kind == models::TaskKind::retrieval) {
      run->model.towers = load_retrieval_ensemble(dir, run->config["ensemble"], options);
    } else if (run->task.kind == models::TaskKind::supervised) {
      run->model.heads = load_ensemble_model(dir, run->config["ensemble"], options);
    } else {
      run->config["ensemble"].fail("ensembles combine supervised or retrieval runs only");
    }
  } else {
    // The run's own weights replace everything: pretrained files are not read again.
    run->model =
        models::build_task_model(run->task, run->config, *dataset, models::PretrainedWeights::skip);
  }
  run->weights_file = (fs::path(dir) / options.weights).string();
  auto module = run->model.module();
  if (run->config.has("quantization")) {  // `mmfuse optimize --int8` (nn/quant/quantize.h)
    if (!options.device.is_cpu()) {
      run->config["quantization"].fail("int8 runs run on the CPU; load it without a GPU device");
    }
    run->quantized = nn::quant::load_quantized_module(*module, run->weights_file);
  } else {
    load_module(*module, run->weights_file);
  }
  module->to(options.device);
  module->eval();
  run->device = options.device;
  // An ensemble's members memoize as they load; an int8 run computes other rows from the same
  // float weights (its hooked layers), so it is never memoized.
  if (options.frozen_memo && run->task.kind != models::TaskKind::translate &&
      !run->config.has("ensemble") && !run->quantized) {
    const std::string& cache = dataset->spec().cache.dir;
    memoize_frozen_encoders(*module, run->config, cache.empty() ? "" : cache + "/frozen");
  }
  // An int8 run's plan compiles its int8 LeNets, cross-attention fusions and MLP heads and its
  // float32 blocks; the rest keep the module path, where the quantized layers are hooked in.
  if (options.inference_plan && run->task.kind == models::TaskKind::supervised &&
      options.device.is_cpu() && !run->config.has("ensemble")) {
    run->plan = run->quantized ? std::make_shared<const InferencePlan>(
                                     run->model.heads, int8_plan_compilers(run->quantized))
                               : std::make_shared<const InferencePlan>(run->model.heads);
  }
  run->model_hash = hash_file(run->weights_file);
  const auto summary = fs::path(dir) / "summary.json";
  run->summary = fs::exists(summary) ? nlohmann::json::parse(read_file(summary.string()))
                                     : nlohmann::json::object();
  return run;
}

}  // namespace mmfuse::runtime
