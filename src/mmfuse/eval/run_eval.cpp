#include "mmfuse/eval/run_eval.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"
#include "mmfuse/data/chunked_loader.h"
#include "mmfuse/eval/complexity.h"
#include "mmfuse/eval/corruption.h"
#include "mmfuse/eval/evaluator.h"
#include "mmfuse/eval/retrieval_eval.h"
#include "mmfuse/eval/run_report.h"
#include "mmfuse/eval/translation_metrics.h"
#include "mmfuse/runtime/frozen_memo.h"
#include "mmfuse/runtime/run.h"

namespace mmfuse::eval {

namespace fs = std::filesystem;
using nlohmann::json;

std::string default_noise_dir(const std::string& base_dir) {
  for (const fs::path& p : {fs::path(base_dir) / "noise", fs::path("../shared/data/noise")}) {
    if (fs::is_directory(p)) return p.string();
  }
  return {};
}

namespace {

// Adds the robustness sections to summary.json and re-renders report.html (both atomically).
void update_run(const std::string& run_dir, const json& result) {
  const std::string path = (fs::path(run_dir) / "summary.json").string();
  json summary = fs::exists(path) ? json::parse(read_file(path)) : json::object();
  for (const char* section : {"robustness", "ablation", "complexity"}) {
    if (result.contains(section)) summary[section] = result[section];
  }
  summary["robustness"]["manifest"] = result["manifest"];
  write_file_atomic(path, summary.dump(2) + "\n");
  write_run_report(run_dir);
}

int64_t parameter_storage_bytes(const torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters()) n += static_cast<int64_t>(p.nbytes());
  for (const auto& b : module.buffers()) n += static_cast<int64_t>(b.nbytes());
  return n;
}

// The metrics stream the manifest a chunk at a time (data/chunked_loader.h) and complexity reads
// the first batches only: memory does not grow with its length. Robustness (opt-in) reads it
// whole (it passes over it once per modality and noise level).
json evaluate_supervised(const runtime::Run& run, const RunEvalRequest& req) {
  models::MultimodalModel model = run.heads();
  data::LoaderOptions lo;
  lo.batch_size = req.batch_size;
  lo.shuffle = false;
  lo.threads = req.threads;
  lo.prefetch_bytes = req.memory.queue_cap_bytes();
  data::ChunkedLoader loader(run.dataset, req.manifest, lo, /*skip_bad=*/false, req.chunk_samples);
  EvalOptions eo;
  eo.top_k = req.top_k;
  eo.forward = [&run](const data::Batch& b) { return run.forward(b); };
  auto metrics = evaluate(model, BatchSource([&loader] { return loader.next(); }), eo);
  if (const auto bad = loader.bad(); !bad.empty()) {  // metrics over fewer samples would mislead
    throw Error(std::to_string(bad.size()) + " sample(s) of " + req.manifest +
                " could not be read; first: " + bad.front().message());
  }
  if (loader.samples_read() == 0) throw InputError("the manifest has no samples", req.manifest);
  json out = {{"metrics", metrics.to_json(run.dataset.get())}};
  if (req.complexity) {  // times the first batches: reads no more of the manifest than those
    constexpr int kRepeats = 20;
    auto reader = run.dataset->open_manifest_file(req.manifest);
    const auto head = run.dataset->read_chunk(
        reader, static_cast<std::size_t>(kRepeats) * static_cast<std::size_t>(req.batch_size));
    const runtime::MemoBypass live(*model);  // the cost of the model itself
    auto c = measure_complexity(model, run.dataset, head, req.batch_size, kRepeats);
    const std::string summary = (fs::path(req.run_dir) / "summary.json").string();
    if (fs::exists(summary)) {
      c.train_seconds = json::parse(read_file(summary)).value("train_seconds", -1.0);
    }
    out["complexity"] = c.to_json();
  }
  if (req.robustness) {
    const auto samples = run.dataset->read_manifest_file(req.manifest);
    RobustnessOptions ro;
    ro.levels = req.levels;
    ro.seed = req.seed;
    ro.batch_size = req.batch_size;
    ro.threads = req.threads;
    if (run.dataset->uses(Modality::audio)) {
      const std::string dir =
          req.noise_dir.empty() ? default_noise_dir(run.dataset->spec().base_dir) : req.noise_dir;
      if (!dir.empty()) ro.noise_files = noise_files(dir);
      out["noise_dir"] = dir;
    }
    auto r = evaluate_robustness(model, run.dataset, samples, ro);
    out["robustness"] = r.robustness_json();
    out["ablation"] = r.ablation_json();
    if (req.update_run) {
      out["manifest"] = req.manifest;
      update_run(req.run_dir, out);
    }
  }
  return out;
}

json evaluate_retrieval_run(const runtime::Run& run, const RunEvalRequest& req,
                            const std::shared_ptr<const data::SampleSet>& samples) {
  EmbedOptions eo;
  eo.batch_size = req.batch_size;
  eo.threads = req.threads;
  models::TwoTower towers = run.towers();
  return {{"metrics", evaluate_retrieval(towers, run.dataset, samples, *run.task.retrieval, eo)}};
}

json evaluate_translation_run(const runtime::Run& run, const RunEvalRequest& req,
                              const std::shared_ptr<const data::SampleSet>& samples) {
  data::LoaderOptions lo;
  lo.batch_size = req.batch_size;
  lo.shuffle = false;
  lo.threads = req.threads;
  lo.prefetch_bytes = req.memory.queue_cap_bytes();
  data::Loader loader(run.dataset, samples, lo);
  models::Translator translator = run.translator();
  ReconOptions ro;
  ro.device = run.device;
  ro.label = run.class_target;
  const ReconMetrics m = reconstruction_metrics(translator, loader, *run.task.translate, ro);
  json metrics = {{"samples", m.samples}, {"mse", m.mse}, {"bce", m.bce}};
  if (m.class_accuracy >= 0) metrics["class_accuracy"] = m.class_accuracy;
  return {{"metrics", metrics}};
}

}  // namespace

json evaluate_run(const RunEvalRequest& req) {
  runtime::RunLoadOptions load_options;
  if (req.memory.set()) load_options.ram_cache_cap_bytes = req.memory.cache_cap_bytes();
  // Robustness perturbs inputs row by row: its passes would only fill the store.
  load_options.frozen_memo = req.frozen_memo && !req.robustness;
  const auto loaded = runtime::load_run(req.run_dir, load_options);
  const runtime::Run& run = *loaded;
  if (req.robustness && run.task.kind != models::TaskKind::supervised) {
    throw UsageError("--robustness is available for supervised runs only; " + req.run_dir +
                     " is a " + models::to_string(run.task.kind) + " run");
  }
  json out;
  if (run.task.kind == models::TaskKind::supervised) {
    out = evaluate_supervised(run, req);
  } else {
    auto samples = run.dataset->read_manifest_file(req.manifest);
    if (samples->samples.empty()) throw InputError("the manifest has no samples", req.manifest);
    out = run.task.kind == models::TaskKind::retrieval
              ? evaluate_retrieval_run(run, req, samples)
              : evaluate_translation_run(run, req, samples);
  }
  for (const auto& [modality, st] : runtime::memo_stats(*run.model.module())) {
    out["frozen_memo"][modality] = {{"computed", st.computed}, {"read", st.read}};
  }
  out["run_dir"] = req.run_dir;
  out["manifest"] = req.manifest;
  out["task"] = models::to_string(run.task.kind);
  MemoryReport memory = MemoryReport::measure(req.memory);
  memory.add("parameters", parameter_storage_bytes(*run.model.module()));
  memory.add("feature_cache", run.dataset->cache().stats().ram_bytes);
  out["memory"] = memory.to_json();
  return out;
}

}  // namespace mmfuse::eval
