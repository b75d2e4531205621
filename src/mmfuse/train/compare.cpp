#include "mmfuse/train/compare.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>
#include <optional>
#include <sstream>

#include "mmfuse/core/fs.h"
#include "mmfuse/eval/corruption.h"
#include "mmfuse/eval/report.h"
#include "mmfuse/eval/robustness.h"
#include "mmfuse/eval/run_eval.h"
#include "mmfuse/runtime/run.h"
#include "mmfuse/train/train_config.h"
#include "mmfuse/train/trainer.h"

namespace mmfuse::train {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Deep copy of a config (yaml-cpp nodes are shared handles).
ConfigNode copy_of(const ConfigNode& root) {
  return ConfigNode(YAML::Clone(root.yaml()), root.path(), root.source());
}

json row_for(const std::string& name, const std::string& modalities, const std::string& fusion,
             const TrainResult& r) {
  json row = {{"name", name},
              {"modalities", modalities},
              {"fusion", fusion},
              {"params", r.summary.value("params", 0)},
              {"train_seconds", r.summary.value("train_seconds", 0.0)},
              {"best_epoch", r.summary.value("best_epoch", 0)},
              {"run_dir", r.run_dir}};
  const json* targets = nullptr;
  if (r.summary.contains("test")) targets = &r.summary["test"]["targets"];
  for (auto it = targets ? targets->begin() : json::const_iterator();
       targets && it != targets->end(); ++it) {
    if (it.value().value("kind", "") != "classification") continue;
    row["accuracy"] = it.value()["report"].value("accuracy", 0.0);
    row["macro_f1"] = it.value()["report"]["macro"].value("f1", 0.0);
    break;
  }
  if (!row.contains("accuracy")) row["accuracy"] = r.summary.value("best_val_metric", 0.0);
  return row;
}

// Mean noise AUC of a finished run on its test split (else val); nullopt without a class target.
std::optional<double> robustness_auc(const std::string& run_dir, const CompareRequest& req) {
  const auto run = runtime::load_run(run_dir);
  models::MultimodalModel model = run->heads();
  const auto& spec = run->dataset->spec();
  const data::Split split =
      spec.manifests(data::Split::test).empty() ? data::Split::val : data::Split::test;
  if (spec.manifests(split).empty()) return std::nullopt;
  eval::RobustnessOptions ro;
  ro.levels = req.levels;
  if (run->dataset->uses(Modality::audio)) {
    const std::string dir =
        req.noise_dir.empty() ? eval::default_noise_dir(spec.base_dir) : req.noise_dir;
    if (!dir.empty()) ro.noise_files = eval::noise_files(dir);
  }
  for (const auto& h : model->heads()) {
    if (h.spec.kind != heads::TaskKind::classification) continue;
    auto r = eval::evaluate_robustness(model, run->dataset, run->dataset->read_split(split), ro);
    if (r.curves.empty()) return std::nullopt;
    return r.mean_auc();
  }
  return std::nullopt;
}

}  // namespace

ConfigNode single_modality_config(const ConfigNode& root, const std::string& modality) {
  ConfigNode c = copy_of(root);
  YAML::Node model = c.yaml()["model"];
  YAML::Node encoders = model["encoders"];
  if (!encoders || !encoders[modality]) {
    root["model"]["encoders"].fail("no encoder for modality '" + modality + "'");
  }
  YAML::Node only(YAML::NodeType::Map);
  only[modality] = YAML::Clone(encoders[modality]);
  model["encoders"] = only;
  model.remove("fusion");
  return c;
}

std::vector<std::string> split_fusion_list(const std::string& list) {
  const char sep = list.find('{') != std::string::npos ? ';' : ',';
  std::vector<std::string> out;
  std::stringstream ss(list);
  for (std::string f; std::getline(ss, f, sep);) {
    const auto b = f.find_first_not_of(" \t"), e = f.find_last_not_of(" \t");
    if (b != std::string::npos) out.push_back(f.substr(b, e - b + 1));
  }
  return out;
}

ConfigNode with_fusion(const ConfigNode& root, const std::string& fusion) {
  ConfigNode c = copy_of(root);
  if (fusion == "config") {
    if (!root["model"].has("fusion")) {
      root["model"].fail("has no fusion, so the fusion 'config' (the config's own) is undefined");
    }
    return c;
  }
  YAML::Node spec = YAML::Load(fusion);
  if (spec.IsScalar()) {
    YAML::Node m(YAML::NodeType::Map);
    m["type"] = fusion;
    spec = m;
  }
  YAML::Node model = c.yaml()["model"];
  model["fusion"] = spec;
  return c;
}

json run_comparison(const CompareRequest& req) {
  ConfigNode root = load_run_config(req.config_path, req.overrides);
  const std::string data = fs::absolute(data_spec_path(root)).string();
  root.set_override("data=" + data);
  std::vector<std::pair<std::string, ConfigNode>> variants;
  for (const auto& f : req.fusions) {
    ConfigNode v = with_fusion(root, f);
    std::string name = v["model"]["fusion"].get<std::string>("type");
    if (f == "config") {
      name = "config " + name;
    } else if (v["model"]["fusion"].size() > 1) {
      name += "+" + std::to_string(variants.size());
    }
    variants.emplace_back(name, v);
  }
  if (req.single_modalities) {
    for (const auto& m : root["model"]["encoders"].keys()) {
      variants.emplace_back(m + " only", single_modality_config(root, m));
    }
  }
  json rows = json::array();
  for (auto& [name, cfg] : variants) {
    std::string safe = name;
    for (char& ch : safe) ch = std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
    const std::string dir = (fs::path(req.out_dir) / safe).string();
    const std::string cfg_path = (fs::path(dir) / "variant.yaml").string();
    write_file_atomic(cfg_path, cfg.dump() + "\n");
    spdlog::info("compare: training '{}' in {}", name, dir);
    TrainRequest tr;
    tr.config = RunConfig::load(cfg_path);
    tr.run_dir = dir;
    tr.progress = req.progress;
    auto result = run_training(tr);
    std::string mods;
    for (const auto& m : cfg["model"]["encoders"].keys()) mods += (mods.empty() ? "" : "+") + m;
    json row = row_for(
        name, mods,
        cfg["model"].has("fusion") ? cfg["model"]["fusion"].get<std::string>("type") : "-", result);
    if (req.robustness) {
      if (auto auc = robustness_auc(dir, req)) row["robustness_auc"] = *auc;
    }
    rows.push_back(row);
  }
  write_file_atomic((fs::path(req.out_dir) / "comparison.json").string(), rows.dump(2) + "\n");
  json report = {
      {"title", "mmfuse comparison"},
      {"subtitle", "config " + req.config_path + "; " + std::to_string(rows.size()) + " variants"},
      {"comparison", rows},
      {"config", root.dump()}};
  eval::write_report((fs::path(req.out_dir) / "report.html").string(), report);
  return rows;
}

std::string comparison_table(const json& rows) {
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "%-24s %-22s %9s %9s %9s %10s %9s\n", "variant", "modalities",
                "accuracy", "macro F1", "noise AUC", "params", "train s");
  out += line;
  for (const auto& r : rows) {
    char auc[32] = "-";
    if (r.contains("robustness_auc")) {
      std::snprintf(auc, sizeof auc, "%.4f", r["robustness_auc"].get<double>());
    }
    std::snprintf(line, sizeof line, "%-24s %-22s %9.4f %9.4f %9s %10lld %9.1f\n",
                  r.value("name", "").c_str(), r.value("modalities", "").c_str(),
                  r.value("accuracy", 0.0), r.value("macro_f1", 0.0), auc,
                  static_cast<long long>(r.value("params", 0)), r.value("train_seconds", 0.0));
    out += line;
  }
  return out;
}

}  // namespace mmfuse::train
