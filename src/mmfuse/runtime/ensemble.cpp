#include "mmfuse/runtime/ensemble.h"

#include <algorithm>
#include <filesystem>
#include <map>

#include <nlohmann/json.hpp>

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"
#include "mmfuse/core/safetensors.h"
#include "mmfuse/runtime/frozen_memo.h"

namespace mmfuse::runtime {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Why two members' targets differ ("" when they agree).
std::string ensemble_target_difference(const json& a, const json& b) {
  const json& x = a.value("targets", json::object());
  const json& y = b.value("targets", json::object());
  for (const auto& [key, value] : x.items()) {
    if (!y.contains(key)) return "targets." + key + " is missing";
    if (y[key] != value) return "targets." + key + " differs";
  }
  for (const auto& [key, value] : y.items()) {
    if (!x.contains(key)) return "targets." + key + " is extra";
  }
  return {};
}

// The ensemble's fitted preprocessing: every modality some member reads, each through the one
// fitted pipeline the members that read it share, and the members' common targets. The spec text
// is the first member's, with the modality entries it lacks taken from the member that reads
// them (which must have its data spec in the same folder: relative paths resolve there).
json ensemble_dataset(const std::vector<json>& states, const std::vector<std::string>& dirs) {
  json merged = states.front();
  YAML::Node spec = YAML::Load(merged.at("spec").at("yaml").get<std::string>());
  std::map<std::string, std::size_t> owner;  // modality -> the member whose entry is used
  if (!merged.contains("pipelines")) merged["pipelines"] = json::object();
  for (const auto& [m, p] : merged["pipelines"].items()) owner[m] = 0;
  for (std::size_t i = 1; i < states.size(); ++i) {
    const json& s = states[i];
    if (auto diff = ensemble_target_difference(merged, s); !diff.empty()) {
      throw Error("ensemble members differ in their targets: " + dirs.front() + " vs " + dirs[i] +
                  ": " + diff + " in dataset.json; combine runs with the same targets and classes");
    }
    const YAML::Node other = YAML::Load(s.at("spec").at("yaml").get<std::string>());
    const json pipelines = s.value("pipelines", json::object());  // kept: items() refers to it
    for (const auto& [m, p] : pipelines.items()) {
      if (owner.count(m)) {
        const bool same = merged["pipelines"][m] == p &&
                          YAML::Dump(spec["modalities"][m]) == YAML::Dump(other["modalities"][m]);
        if (same) continue;
        throw Error("ensemble members read " + m + " through different preprocessing: " +
                    dirs[owner[m]] + " vs " + dirs[i] + " (pipelines." + m +
                    " or its spec entry differs in dataset.json); members that share a modality " +
                    "must be trained on the same data spec with the same preprocessing");
      }
      if (s["spec"].value("base_dir", "") != merged["spec"].value("base_dir", "")) {
        throw Error("ensemble member " + dirs[i] + " adds " + m + " from a data spec in " +
                    s["spec"].value("base_dir", "") + ", but the first member's is in " +
                    merged["spec"].value("base_dir", "") +
                    "; keep the members' data specs in one folder");
      }
      spec["modalities"][m] = YAML::Clone(other["modalities"][m]);
      merged["pipelines"][m] = p;
      owner[m] = i;
    }
  }
  merged["spec"]["yaml"] = YAML::Dump(spec) + "\n";
  return merged;
}

void ensemble_copy_file(const fs::path& from, const fs::path& to) {
  write_file_atomic(to.string(), read_file(from.string()));
}

}  // namespace

void write_ensemble_run(const EnsembleRequest& req) {
  if (req.runs.empty()) throw UsageError("ensemble needs at least one run (--runs A B ...)");
  if (fs::exists(fs::path(req.out) / "config.yaml")) {
    throw UsageError(req.out + " already holds a run; give a new --out folder");
  }
  std::vector<std::shared_ptr<const Run>> runs;
  std::vector<json> states;
  RunLoadOptions lo;
  lo.onednn_gemm = false;
  for (const auto& dir : req.runs) {
    runs.push_back(load_run(dir, lo));
    states.push_back(json::parse(read_file((fs::path(dir) / "dataset.json").string())));
  }
  const json dataset = ensemble_dataset(states, req.runs);
  const bool retrieval = runs.front()->task.kind == models::TaskKind::retrieval;
  std::shared_ptr<torch::nn::Module> ensemble;
  if (retrieval) {
    if (req.mode != models::EnsembleMode::mean) {
      throw UsageError("a retrieval ensemble averages its members' cosine scores; --mode " +
                       models::to_string(req.mode) + " is for classification runs");
    }
    std::vector<std::shared_ptr<models::TwoTowerImpl>> towers;
    for (const auto& r : runs) towers.push_back(r->towers().ptr());  // throws for other tasks
    ensemble = std::make_shared<models::TwoTowerImpl>(towers);
  } else {
    std::vector<models::MultimodalModel> models;
    for (const auto& r : runs) models.push_back(r->heads());  // throws for translate runs
    ensemble = models::make_ensemble(models, req.runs, req.mode).ptr();  // checks the heads
  }

  fs::create_directories(fs::path(req.out) / "members");
  YAML::Node members, sources;
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const fs::path src(req.runs[i]), dst = fs::path(req.out) / "members" / std::to_string(i);
    fs::create_directories(dst);
    ensemble_copy_file(src / "config.yaml", dst / "config.yaml");
    ensemble_copy_file(src / "dataset.json", dst / "dataset.json");
    ensemble_copy_file(runs[i]->weights_file, dst / "model.safetensors");
    if (fs::exists(src / "summary.json")) {
      ensemble_copy_file(src / "summary.json", dst / "summary.json");
    }
    members.push_back("members/" + std::to_string(i));
    sources.push_back(fs::absolute(src).lexically_normal().string());
  }
  YAML::Node root;
  root["task"] = retrieval ? "retrieval" : "supervised";
  if (runs.front()->config.has("data")) root["data"] = runs.front()->config["data"].yaml();
  if (retrieval) root["retrieval"] = runs.front()->config["retrieval"].yaml();
  root["ensemble"]["mode"] = models::to_string(req.mode);
  root["ensemble"]["members"] = members;
  root["ensemble"]["sources"] = sources;
  YAML::Emitter out;
  out << root;
  write_file_atomic((fs::path(req.out) / "config.yaml").string(),
                    std::string("# mmfuse ensemble of ") + std::to_string(runs.size()) + " runs (" +
                        models::to_string(req.mode) + ")\n" + out.c_str() + "\n");
  write_file_atomic((fs::path(req.out) / "dataset.json").string(), dataset.dump(2) + "\n");
  save_module(*ensemble, (fs::path(req.out) / "model.safetensors").string());
  json summary = {
      {"ensemble", {{"mode", models::to_string(req.mode)}, {"members", json(req.runs)}}}};
  write_file_atomic((fs::path(req.out) / "summary.json").string(), summary.dump(2) + "\n");
}

namespace {

// The members' folders of an ensemble run's `ensemble:` section, resolved against `dir`.
std::vector<std::string> ensemble_member_dirs(const std::string& dir, const ConfigNode& node) {
  node.check_keys({"mode", "members", "sources"});
  const auto members = node.get<std::vector<std::string>>("members");
  if (members.empty()) node["members"].fail("expected at least one member folder");
  std::vector<std::string> out;
  for (const auto& m : members) out.push_back(resolve_path(dir, m));
  return out;
}

}  // namespace

models::TwoTower load_retrieval_ensemble(const std::string& dir, const ConfigNode& node,
                                         const RunLoadOptions& options) {
  const auto dirs = ensemble_member_dirs(dir, node);
  if (node.get<std::string>("mode", "mean") != "mean") {
    node["mode"].fail("a retrieval ensemble averages its members' cosine scores; use mode: mean");
  }
  RunLoadOptions lo = options;
  lo.onednn_gemm = false;  // the ensemble's own run holds it
  std::vector<std::shared_ptr<const Run>> runs;
  std::vector<std::shared_ptr<models::TwoTowerImpl>> towers;
  for (const auto& path : dirs) {
    runs.push_back(load_run(path, lo));
    towers.push_back(runs.back()->towers().ptr());
  }
  models::TwoTower ensemble(std::make_shared<models::TwoTowerImpl>(towers));
  // Members whose encoder of a modality has the same weights and options (runs over one frozen
  // pretrained tower) share one pass of it: the fingerprint frozen features are keyed by.
  for (Modality m : {ensemble->query_modality(), ensemble->candidate_modality()}) {
    const std::string name(to_string(m));
    std::vector<std::string> prints;
    std::vector<std::size_t> same;
    for (std::size_t k = 0; k < runs.size(); ++k) {
      const ConfigNode opts = runs[k]->config["model"]["encoders"][name];
      const auto& encoders = *towers[k]->named_children()["encoders"]->as<torch::nn::ModuleDict>();
      prints.push_back(module_fingerprint(*encoders[name], opts.is_null() ? "" : opts.dump()));
      same.push_back(static_cast<std::size_t>(
          std::find(prints.begin(), prints.end(), prints.back()) - prints.begin()));
    }
    ensemble->share_encoders(m, same);
  }
  return ensemble;
}

models::MultimodalModel load_ensemble_model(const std::string& dir, const ConfigNode& node,
                                            const RunLoadOptions& options) {
  const auto dirs = ensemble_member_dirs(dir, node);
  models::EnsembleMode mode = models::EnsembleMode::mean;
  try {
    mode = models::ensemble_mode_from_string(node.get<std::string>("mode", "mean"));
  } catch (const Error& e) {
    node["mode"].fail(e.what());
  }
  RunLoadOptions lo = options;
  lo.onednn_gemm = false;  // the ensemble's own run holds it
  std::vector<models::MultimodalModel> models;
  for (const auto& path : dirs) models.push_back(load_run(path, lo)->heads());
  return models::make_ensemble(models, dirs, mode);
}

}  // namespace mmfuse::runtime
