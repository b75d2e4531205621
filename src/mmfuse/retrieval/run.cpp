#include "mmfuse/retrieval/run.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>

#include "mmfuse/core/error.h"
#include "mmfuse/core/hash.h"
#include "mmfuse/core/safetensors.h"
#include "mmfuse/retrieval/evaluate.h"
#include "mmfuse/train/trainer.h"

namespace mmfuse::retrieval {

namespace fs = std::filesystem;

RetrievalRun load_retrieval_run(const std::string& run_dir) {
  for (const char* f : {"config.yaml", "dataset.json", "model.safetensors"}) {
    if (!fs::exists(fs::path(run_dir) / f)) {
      throw Error(run_dir + ": no " + f +
                  "; give the folder of a finished `mmfuse train` run with task: retrieval");
    }
  }
  RetrievalRun run;
  run.dir = run_dir;
  run.config = ConfigNode::load_file((fs::path(run_dir) / "config.yaml").string());
  if (!is_retrieval_config(run.config)) {
    throw Error(run_dir + " is a classification run; give a run trained with task: retrieval");
  }
  run.rc = RetrievalConfig::from_config(run.config);
  run.dataset = data::Dataset::load((fs::path(run_dir) / "dataset.json").string());
  run.model = build_two_tower(run.rc, run.config["model"], train::model_inputs(*run.dataset));
  const std::string weights = (fs::path(run_dir) / "model.safetensors").string();
  load_module(*run.model, weights);
  run.model->eval();
  run.model_hash = hash_file(weights);
  return run;
}

nlohmann::json evaluate_retrieval_run(const std::string& run_dir, const std::string& manifest,
                                      int64_t batch_size, int threads) {
  RetrievalRun run = load_retrieval_run(run_dir);
  auto samples = run.dataset->read_manifest_file(manifest);
  if (samples->samples.empty()) throw InputError("the manifest has no samples", manifest);
  EmbedOptions eo;
  eo.batch_size = batch_size;
  eo.threads = threads;
  return {{"run_dir", run_dir},
          {"manifest", manifest},
          {"task", "retrieval"},
          {"metrics", evaluate_retrieval(run.model, run.dataset, samples, run.rc, eo)}};
}

std::string format_retrieval_eval(const nlohmann::json& result) {
  const auto& m = result.at("metrics");
  std::string out = "retrieval on " + result.value("manifest", std::string()) + " (" +
                    std::to_string(m.value("n", 0)) + " samples)\n";
  std::vector<std::string> cols;
  for (const auto& [direction, values] : m.items()) {
    if (!values.is_object()) continue;
    if (cols.empty()) {
      for (const char* prefix : {"R@", "P@"}) {  // by K, not in text order
        std::vector<std::pair<int, std::string>> ks;
        for (const auto& [k, v] : values.items()) {
          if (k.rfind(prefix, 0) == 0) ks.emplace_back(std::stoi(k.substr(2)), k);
        }
        std::sort(ks.begin(), ks.end());
        for (const auto& [k, name] : ks) cols.push_back(name);
      }
      cols.insert(cols.end(), {"median_rank", "mean_rank", "mAP"});
      char head[32];
      std::snprintf(head, sizeof head, "%-16s", "direction");
      out += head;
      for (const auto& c : cols) {
        std::snprintf(head, sizeof head, " %11s", c.c_str());
        out += head;
      }
      out += "\n";
    }
    char cell[48];
    std::snprintf(cell, sizeof cell, "%-16s", direction.c_str());
    out += cell;
    for (const auto& c : cols) {
      std::snprintf(cell, sizeof cell, " %11.4f", values.value(c, 0.0));
      out += cell;
    }
    out += "\n";
  }
  return out;
}

}  // namespace mmfuse::retrieval
