#include "mmfuse/optimize/prune.h"

#include <spdlog/spdlog.h>

#include <filesystem>

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"
#include "mmfuse/core/safetensors.h"
#include "mmfuse/eval/complexity.h"
#include "mmfuse/runtime/run.h"
#include "mmfuse/train/trainer.h"

namespace mmfuse::optimize {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

void check_prune_request(const PruneOptions& o) {
  if (!(o.amount >= 0.0 && o.amount < 1.0)) {
    throw UsageError("--amount: expected a fraction in [0, 1), got " + std::to_string(o.amount) +
                     " (0.5 prunes half)");
  }
  if (o.finetune_epochs < 0) {
    throw UsageError("--finetune-epochs: expected 0 or more, got " +
                     std::to_string(o.finetune_epochs));
  }
  if (o.run.empty()) throw UsageError("--run: the trained run to prune is required");
  if (o.out.empty()) throw UsageError("--out: the folder of the pruned run is required");
  if (fs::exists(o.out) && fs::exists(o.run) && fs::equivalent(o.out, o.run)) {
    throw UsageError("--out " + o.out + " is the source run; the source run is never modified");
  }
  for (const char* f : {"config.yaml", "model.safetensors", "summary.json"}) {
    if (fs::exists(fs::path(o.out) / f)) {
      throw UsageError("--out " + o.out + " already holds a run (" + f +
                       "); choose a new folder or remove that one");
    }
  }
}

// The pruned run's config: the source's, without `pretrained:` files (the weights come from the
// pruned state), training for `epochs`, without fault injection.
ConfigNode finetune_config(const ConfigNode& config, int64_t epochs,
                           const std::vector<std::string>& overrides) {
  ConfigNode copy = ConfigNode::parse(config.dump() + "\n", config.source());
  for (const char* family : {"encoders", "heads"}) {
    YAML::Node blocks = copy.yaml()["model"][family];
    if (!blocks || !blocks.IsMap()) continue;
    for (auto it = blocks.begin(); it != blocks.end(); ++it) {
      // A copy (Nodes are handles): `it->` returns a proxy that dies with the statement.
      YAML::Node block = it->second;
      if (block.IsMap() && block["pretrained"]) block.remove("pretrained");
    }
  }
  copy.set_override("train.epochs=" + std::to_string(epochs));
  copy.set_override("train.kill_after_steps=0");  // a crash test's fault injection stays behind
  for (const auto& o : overrides) copy.set_override(o);
  return copy;
}

int64_t pruned_parameter_count(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters(true)) n += p.numel();
  return n;
}

// Everything of one side but the latency.
PruneSide describe_prune_side(const runtime::Run& run, const std::string& target) {
  PruneSide s;
  s.params = pruned_parameter_count(*run.model.module());
  s.weights_bytes = static_cast<int64_t>(fs::file_size(run.weights_file));
  std::tie(s.val_accuracy, s.val_macro_f1) = summary_accuracy_f1(run.summary, "val", target);
  std::tie(s.test_accuracy, s.test_macro_f1) = summary_accuracy_f1(run.summary, "test", target);
  return s;
}

void measure_prune_latency(const runtime::Run& run, const PruneOptions& o, PruneSide& side) {
  if (!o.measure_latency || run.task.kind != models::TaskKind::supervised) return;
  // Timed on the val split; a run trained without one (a refit on train + val) on its training
  // split.
  const bool has_val = run.dataset->spec().has_val_split();
  auto samples = run.dataset->read_split(has_val ? data::Split::val : data::Split::train);
  if (samples->samples.empty()) return;
  auto model = run.heads();
  auto c =
      eval::measure_complexity(model, run.dataset, samples, o.latency_batch, o.latency_repeats);
  side.latency_ms_batch1 = c.latency_ms_batch1;
  side.latency_ms_batchn = c.latency_ms_batchn;
}

struct PrunedStart {
  ConfigNode config;
  std::map<std::string, torch::Tensor> state;
  std::map<std::string, torch::Tensor> masks;  // unstructured only
};

PrunedStart prune_weights(const runtime::Run& source, const PruneOptions& o, PruneReport& report) {
  PrunedStart start;
  const torch::nn::Module& model = *source.model.module();
  if (o.structured) {
    if (source.task.kind != models::TaskKind::supervised) {
      throw Error("structured pruning supports supervised runs; " + source.dir + " is a " +
                  std::string(models::to_string(source.task.kind)) +
                  " run (prune it without --structured)");
    }
    StructuredPlan plan = plan_structured_pruning(model, source.config, o.amount, o.norm);
    const auto before = module_state(model);
    for (const auto& [name, t] : plan.state) {
      const auto& old = before.at(name);
      if (!old.sizes().equals(t.sizes())) {
        report.shapes.emplace_back(name, c10::str(old.sizes()) + " -> " + c10::str(t.sizes()));
      }
    }
    report.layers = std::move(plan.layers);
    report.kept = std::move(plan.kept);
    start.config = std::move(plan.config);
    start.state = std::move(plan.state);
    return start;
  }
  start.config = source.config;
  start.masks = magnitude_masks(prunable_weights(model), o.amount, o.scope);
  torch::NoGradGuard no_grad;
  for (const auto& [name, t] : module_state(model)) {
    auto m = start.masks.find(name);
    start.state[name] = m == start.masks.end() ? t.detach() : t.detach() * m->second;
  }
  return start;
}

std::string prune_fixed(double v, int digits) {
  if (std::isnan(v)) return "-";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

}  // namespace

std::pair<double, double> summary_accuracy_f1(const json& summary, const std::string& split,
                                              const std::string& target) {
  const json* t = nullptr;
  if (summary.contains(split) && summary[split].contains("targets") &&
      summary[split]["targets"].contains(target)) {
    t = &summary[split]["targets"][target];
  }
  if (t == nullptr || !t->contains("report")) return {NAN, NAN};
  const json& r = (*t)["report"];
  const double acc = r.value("accuracy", NAN);
  const double f1 = r.contains("macro") ? r["macro"].value("f1", NAN) : NAN;
  return {acc, f1};
}

PruneReport run_prune(const PruneOptions& o) {
  check_prune_request(o);
  PruneReport report;
  report.options = o;
  auto source = runtime::load_run(o.run);
  report.class_target = source->class_target;
  PrunedStart start = prune_weights(*source, o, report);
  train::TrainRequest req;
  req.config = train::RunConfig::from_config(
      finetune_config(start.config, o.finetune_epochs, o.finetune_overrides));
  req.run_dir = o.out;
  req.threads = o.threads;
  req.progress = o.progress;
  req.fitted_dataset = (fs::path(o.run) / "dataset.json").string();
  req.on_model_built = [&start](torch::nn::Module& m) {
    load_module(m, start.state, {}, "the pruned weights");
  };
  if (!start.masks.empty()) {
    req.after_step = [&start](torch::nn::Module& m) { apply_masks(m, start.masks); };
  }
  spdlog::info("pruning {} into {} ({} {}, {} fine-tuning epochs)", o.run, o.out,
               o.structured ? "structured" : "unstructured", o.amount, o.finetune_epochs);
  (void)train::run_training(req);
  auto pruned = runtime::load_run(o.out);
  report.sparsity = weight_sparsity(*pruned->model.module());
  report.before = describe_prune_side(*source, report.class_target);
  report.after = describe_prune_side(*pruned, report.class_target);
  measure_prune_latency(*source, o, report.before);
  measure_prune_latency(*pruned, o, report.after);
  write_file_atomic((fs::path(o.out) / "prune.json").string(), report.to_json().dump(2) + "\n");
  return report;
}

json PruneSide::to_json() const {
  auto num = [](double v) { return std::isnan(v) ? json(nullptr) : json(v); };
  return {{"params", params},
          {"weights_bytes", weights_bytes},
          {"val_accuracy", num(val_accuracy)},
          {"val_macro_f1", num(val_macro_f1)},
          {"test_accuracy", num(test_accuracy)},
          {"test_macro_f1", num(test_macro_f1)},
          {"latency_ms_batch1", num(latency_ms_batch1)},
          {"latency_ms_batchn", num(latency_ms_batchn)}};
}

json PruneReport::to_json() const {
  json j = {{"source_run", fs::absolute(options.run).string()},
            {"amount", options.amount},
            {"method", options.structured ? "structured" : "unstructured"},
            {"finetune_epochs", options.finetune_epochs},
            {"finetune_overrides", options.finetune_overrides},
            {"class_target", class_target},
            {"latency_batch", options.latency_batch},
            {"before", before.to_json()},
            {"after", after.to_json()}};
  if (options.structured) {
    j["norm"] = options.norm == ChannelNorm::l1 ? "l1" : "l2";
    json layers = json::array();
    for (const auto& l : this->layers) {
      layers.push_back({{"name", l.name}, {"before", l.before}, {"after", l.kept.size()}});
    }
    j["layers"] = layers;
    j["kept"] = kept;
    json shapes = json::object();
    for (const auto& [name, change] : this->shapes) shapes[name] = change;
    j["shapes"] = shapes;
  } else {
    j["scope"] = options.scope == PruneScope::layer ? "layer" : "global";
  }
  json sp = json::array();
  for (const auto& s : sparsity) {
    sp.push_back(
        {{"name", s.name}, {"zeros", s.zeros}, {"total", s.total}, {"sparsity", s.sparsity()}});
  }
  j["sparsity"] = sp;
  return j;
}

std::string PruneReport::table() const {
  std::string t;
  auto row = [&t](const std::string& what, const std::string& a, const std::string& b) {
    char buf[256];
    std::snprintf(buf, sizeof buf, "%-28s %14s %14s\n", what.c_str(), a.c_str(), b.c_str());
    t += buf;
  };
  row("", "source", "pruned");
  row("parameters", std::to_string(before.params), std::to_string(after.params));
  row("weights on disk (KiB)", prune_fixed(before.weights_bytes / 1024.0, 1),
      prune_fixed(after.weights_bytes / 1024.0, 1));
  row("val accuracy", prune_fixed(before.val_accuracy, 4), prune_fixed(after.val_accuracy, 4));
  row("val macro F1", prune_fixed(before.val_macro_f1, 4), prune_fixed(after.val_macro_f1, 4));
  row("test accuracy", prune_fixed(before.test_accuracy, 4), prune_fixed(after.test_accuracy, 4));
  row("test macro F1", prune_fixed(before.test_macro_f1, 4), prune_fixed(after.test_macro_f1, 4));
  row("latency batch 1 (ms, p50)", prune_fixed(before.latency_ms_batch1, 3),
      prune_fixed(after.latency_ms_batch1, 3));
  row("latency batch " + std::to_string(options.latency_batch) + " (ms, p50)",
      prune_fixed(before.latency_ms_batchn, 3), prune_fixed(after.latency_ms_batchn, 3));
  t += "\nweight sparsity (zeros / entries):\n";
  for (const auto& s : sparsity) {
    t += "  " + s.name + ": " + std::to_string(s.zeros) + " / " + std::to_string(s.total) + " (" +
         prune_fixed(100.0 * s.sparsity(), 2) + "%)\n";
  }
  if (!shapes.empty()) t += "\nshapes:\n";
  for (const auto& [name, change] : shapes) t += "  " + name + ": " + change + "\n";
  if (!kept.empty()) t += "\nkept at full width:\n";
  for (const auto& k : kept) t += "  " + k + "\n";
  return t;
}

}  // namespace mmfuse::optimize
