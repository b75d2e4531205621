#include "mmfuse/train/compare.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <filesystem>

#include "mmfuse/core/fs.h"
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

ConfigNode with_fusion(const ConfigNode& root, const std::string& fusion) {
  ConfigNode c = copy_of(root);
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
    if (v["model"]["fusion"].size() > 1) name += "+" + std::to_string(variants.size());
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
    tr.config_path = cfg_path;
    tr.run_dir = dir;
    tr.progress = req.progress;
    auto result = run_training(tr);
    std::string mods;
    for (const auto& m : cfg["model"]["encoders"].keys()) mods += (mods.empty() ? "" : "+") + m;
    rows.push_back(
        row_for(name, mods,
                cfg["model"].has("fusion") ? cfg["model"]["fusion"].get<std::string>("type") : "-",
                result));
  }
  write_file_atomic((fs::path(req.out_dir) / "comparison.json").string(), rows.dump(2) + "\n");
  return rows;
}

std::string comparison_table(const json& rows) {
  std::string out;
  char line[256];
  std::snprintf(line, sizeof line, "%-24s %-22s %9s %9s %10s %9s\n", "variant", "modalities",
                "accuracy", "macro F1", "params", "train s");
  out += line;
  for (const auto& r : rows) {
    std::snprintf(line, sizeof line, "%-24s %-22s %9.4f %9.4f %10lld %9.1f\n",
                  r.value("name", "").c_str(), r.value("modalities", "").c_str(),
                  r.value("accuracy", 0.0), r.value("macro_f1", 0.0),
                  static_cast<long long>(r.value("params", 0)), r.value("train_seconds", 0.0));
    out += line;
  }
  return out;
}

}  // namespace mmfuse::train
