#include "mmfuse/train/run_eval.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"
#include "mmfuse/eval/complexity.h"
#include "mmfuse/eval/corruption.h"
#include "mmfuse/eval/evaluator.h"
#include "mmfuse/train/load_run.h"
#include "mmfuse/train/run_report.h"

namespace mmfuse::train {

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

}  // namespace

json evaluate_run(const RunEvalRequest& req) {
  LoadedRun run = load_run(req.run_dir);
  auto samples = run.dataset->read_manifest_file(req.manifest);
  if (samples->samples.empty()) throw InputError("the manifest has no samples", req.manifest);
  data::LoaderOptions lo;
  lo.batch_size = req.batch_size;
  lo.shuffle = false;
  lo.threads = req.threads;
  data::Loader loader(run.dataset, samples, lo);
  eval::EvalOptions eo;
  eo.top_k = req.top_k;
  auto metrics = eval::evaluate(run.model, loader, eo);
  json out = {{"run_dir", req.run_dir},
              {"manifest", req.manifest},
              {"metrics", metrics.to_json(run.dataset.get())}};
  if (const auto bad = loader.bad(); !bad.empty()) {  // metrics over fewer samples would mislead
    throw Error(std::to_string(bad.size()) + " sample(s) of " + req.manifest +
                " could not be read; first: " + bad.front().message());
  }

  if (req.complexity) {
    auto c = eval::measure_complexity(run.model, run.dataset, samples, req.batch_size);
    const std::string summary = (fs::path(req.run_dir) / "summary.json").string();
    if (fs::exists(summary)) {
      c.train_seconds = json::parse(read_file(summary)).value("train_seconds", -1.0);
    }
    out["complexity"] = c.to_json();
  }
  if (req.robustness) {
    eval::RobustnessOptions ro;
    ro.levels = req.levels;
    ro.seed = req.seed;
    ro.batch_size = req.batch_size;
    ro.threads = req.threads;
    if (run.dataset->uses(Modality::audio)) {
      const std::string dir =
          req.noise_dir.empty() ? default_noise_dir(run.dataset->spec().base_dir) : req.noise_dir;
      if (!dir.empty()) ro.noise_files = eval::noise_files(dir);
      out["noise_dir"] = dir;
    }
    auto r = eval::evaluate_robustness(run.model, run.dataset, samples, ro);
    out["robustness"] = r.robustness_json();
    out["ablation"] = r.ablation_json();
    if (req.update_run) update_run(req.run_dir, out);
  }
  return out;
}

std::string format_run_eval(const json& r) {
  std::string out;
  char line[256];
  const json& m = r["metrics"];
  out += "samples: " + std::to_string(m.value("samples", 0)) + "   (" +
         r.value("manifest", std::string()) + ")\n";
  for (auto it = m["targets"].begin(); it != m["targets"].end(); ++it) {
    const json& t = it.value();
    const json& rep = t["report"];
    out += "\ntarget " + it.key() + " (" + t.value("kind", std::string()) + ")\n";
    if (t.value("kind", "") == "classification") {
      std::snprintf(line, sizeof line,
                    "  accuracy %.4f   top-%d %.4f   macro P/R/F1 %.4f %.4f %.4f   weighted F1 "
                    "%.4f\n",
                    rep.value("accuracy", 0.0), rep.value("top_k", 1),
                    rep.value("top_k_accuracy", 0.0), rep["macro"].value("precision", 0.0),
                    rep["macro"].value("recall", 0.0), rep["macro"].value("f1", 0.0),
                    rep["weighted"].value("f1", 0.0));
      out += line;
      std::snprintf(line, sizeof line, "  %-14s %9s %9s %9s %8s\n", "class", "precision", "recall",
                    "F1", "support");
      out += line;
      for (const auto& c : rep["per_class"]) {
        std::snprintf(line, sizeof line, "  %-14s %9.4f %9.4f %9.4f %8lld\n",
                      c.value("class", "").c_str(), c.value("precision", 0.0),
                      c.value("recall", 0.0), c.value("f1", 0.0),
                      static_cast<long long>(c.value("support", 0)));
        out += line;
      }
      out += "  confusion (rows: true, columns: predicted)\n";
      for (const auto& row : rep["confusion"]) {
        out += "   ";
        for (const auto& v : row) {
          std::snprintf(line, sizeof line, " %5lld", static_cast<long long>(v.get<int64_t>()));
          out += line;
        }
        out += "\n";
      }
    } else {
      for (auto k = rep.begin(); k != rep.end(); ++k) {
        if (k.value().is_number_integer()) {
          std::snprintf(line, sizeof line, "  %-22s %lld\n", k.key().c_str(),
                        static_cast<long long>(k.value().get<int64_t>()));
        } else {
          std::snprintf(line, sizeof line, "  %-22s %.4f\n", k.key().c_str(),
                        k.value().get<double>());
        }
        out += line;
      }
    }
  }
  if (r.contains("complexity")) {
    out += "\ncomplexity\n";
    for (auto k = r["complexity"].begin(); k != r["complexity"].end(); ++k) {
      std::snprintf(line, sizeof line, "  %-22s %.6g\n", k.key().c_str(), k.value().get<double>());
      out += line;
    }
  }
  if (r.contains("ablation")) {
    out +=
        "\nmodality ablation (" + r["robustness"].value("target", std::string()) + " accuracy)\n";
    for (const auto& a : r["ablation"]) {
      std::snprintf(line, sizeof line, "  %-22s %.4f\n", a.value("name", "").c_str(),
                    a.value("accuracy", 0.0));
      out += line;
    }
  }
  if (r.contains("robustness")) {
    const json& rb = r["robustness"];
    std::vector<std::string> mods;  // Modality order, not the JSON object's key order
    for (Modality m : kAllModalities) {
      if (rb["curves"].contains(std::string(to_string(m)))) mods.emplace_back(to_string(m));
    }
    out += "\naccuracy vs noise level\n  level  ";
    for (const auto& m : mods) {
      std::snprintf(line, sizeof line, " %8s", m.c_str());
      out += line;
    }
    out += "\n";
    const auto levels = rb["levels"].get<std::vector<double>>();
    for (std::size_t i = 0; i < levels.size(); ++i) {
      std::snprintf(line, sizeof line, "  %5.2f  ", levels[i]);
      out += line;
      for (const auto& m : mods) {
        std::snprintf(line, sizeof line, " %8.4f", rb["curves"][m][i].get<double>());
        out += line;
      }
      out += "\n";
    }
    for (const char* row : {"auc", "effective"}) {
      std::snprintf(line, sizeof line, "  %-7s", row == std::string("auc") ? "AUC" : "eff.");
      out += line;
      for (const auto& m : mods) {
        std::snprintf(line, sizeof line, " %8.4f", rb[row][m].get<double>());
        out += line;
      }
      out += "\n";
    }
    std::snprintf(line, sizeof line, "  mean AUC over modalities: %.4f\n",
                  rb.value("mean_auc", 0.0));
    out += line;
  }
  return out;
}

}  // namespace mmfuse::train
