#include "mmfuse/nn/pretrained.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <filesystem>

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"

namespace mmfuse::nn {

namespace {

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

std::string joined(const std::vector<std::string>& items, std::size_t max = 8) {
  std::string out;
  for (std::size_t i = 0; i < items.size() && i < max; ++i) out += (i ? ", " : "") + items[i];
  if (items.size() > max) out += ", ... (" + std::to_string(items.size()) + " in all)";
  return out;
}

// The file's tensors under the prefix and not excluded; throws when there is none.
std::map<std::string, torch::Tensor> select_tensors(const PretrainedOptions& o) {
  if (!std::filesystem::is_regular_file(o.file)) {
    throw Error(o.file +
                ": no such weights file; give the path of a safetensors file (relative "
                "paths resolve against the config's folder)");
  }
  SafetensorsData data = load_safetensors(o.file);
  std::map<std::string, torch::Tensor> selected;
  std::vector<std::string> outside;
  for (auto& [name, t] : data.tensors) {
    const bool excluded = std::any_of(o.exclude.begin(), o.exclude.end(),
                                      [&](const std::string& e) { return starts_with(name, e); });
    if (excluded) continue;
    if (!starts_with(name, o.prefix)) {
      outside.push_back(name);
      continue;
    }
    selected.emplace(name, t);
  }
  if (selected.empty()) {
    throw Error(o.file + ": no tensor name starts with the prefix '" + o.prefix +
                "' (outside it: " + joined(outside) +
                "); set `prefix` to the part of the names "
                "before the block's own (e.g. 'features.' or 'encoder.')");
  }
  return selected;
}

}  // namespace

std::optional<PretrainedOptions> PretrainedOptions::from_config(const ConfigNode& block_cfg) {
  const ConfigNode cfg = block_cfg["pretrained"];
  if (cfg.is_null()) return std::nullopt;
  PretrainedOptions o;
  if (cfg.is_scalar()) {
    o.file = cfg.as<std::string>();
  } else {
    if (!cfg.is_map()) cfg.fail("expected {file: weights.safetensors, prefix, exclude, strict}");
    cfg.check_keys({"file", "prefix", "into", "exclude", "strict", "convert_dtypes"});
    o.file = cfg.get<std::string>("file");
    o.prefix = cfg.get<std::string>("prefix", "");
    o.into = cfg.get<std::string>("into", "");
    o.exclude = cfg.get<std::vector<std::string>>("exclude", {});
    o.strict = cfg.get<bool>("strict", true);
    o.convert_dtypes = cfg.get<bool>("convert_dtypes", false);
  }
  if (o.file.empty()) cfg.fail("expected the path of a safetensors file");
  o.file = resolve_path(parent_dir(cfg.source()), o.file);
  return o;
}

ModuleLoadReport load_pretrained(torch::nn::Module& block, const PretrainedOptions& o,
                                 const std::string& what) {
  const std::map<std::string, torch::Tensor> selected = select_tensors(o);
  ModuleLoadOptions lo;
  lo.strict = false;  // the report is turned into one message below
  lo.convert_float_dtypes = o.convert_dtypes;
  const std::size_t cut = o.prefix.size();
  const std::string into = o.into;
  lo.rename = [cut, into](const std::string& name) { return into + name.substr(cut); };
  // Nothing is copied unless the whole load is acceptable: check first.
  lo.dry_run = true;
  ModuleLoadReport report = load_module(block, selected, lo, o.file);
  const std::string problems = report.describe();
  if (o.strict && !problems.empty()) {
    std::string hint;
    if (!report.unexpected.empty()) {
      hint += " If the file holds more than this " + what +
              " (a classifier, another tower), leave those tensors out with `exclude: [name "
              "prefix]` or narrow `prefix`.";
    }
    if (!report.wrong_dtype.empty()) {
      hint +=
          " Set `convert_dtypes: true` to convert other float precisions to the " + what + "'s.";
    }
    throw Error(o.file + ": the pretrained weights do not match the " + what + " (" +
                std::to_string(report.loaded.size()) + " of " +
                std::to_string(module_state(block).size()) + " " + what +
                " tensors matched):" + problems + (hint.empty() ? "" : "\n" + hint.substr(1)));
  }
  lo.dry_run = false;
  report = load_module(block, selected, lo, o.file);
  if (!report.converted.empty()) {
    spdlog::info("{}: converted {} tensor(s) to the {}'s dtype: {}", o.file,
                 report.converted.size(), what, joined(report.converted, 4));
  }
  if (!problems.empty()) {
    spdlog::warn("{}: loaded {} tensor(s) (strict: false); the rest:{}", o.file,
                 report.loaded.size(), problems);
  }
  return report;
}

ConfigNode without_pretrained(const ConfigNode& cfg) {
  if (!cfg.is_map() || !cfg.has("pretrained")) return cfg;
  YAML::Node copy = YAML::Clone(cfg.yaml());
  copy.remove("pretrained");
  return ConfigNode(copy, cfg.path(), cfg.source());
}

void load_configured_pretrained(torch::nn::Module& block, const ConfigNode& cfg,
                                const std::string& what) {
  const auto pretrained = PretrainedOptions::from_config(cfg);
  if (!pretrained) return;
  try {
    load_pretrained(block, *pretrained, what);
  } catch (const Error& e) {
    cfg["pretrained"].fail(e.what());
  }
}

void resolve_pretrained_files(const ConfigNode& blocks) {
  if (!blocks.is_map()) return;
  for (const auto& key : blocks.keys()) {
    const ConfigNode block = blocks[key];
    if (!block.is_map() || !block.has("pretrained")) continue;
    const std::string file = std::filesystem::absolute(PretrainedOptions::from_config(block)->file)
                                 .lexically_normal()
                                 .string();
    YAML::Node node = block["pretrained"].yaml();
    if (node.IsScalar()) {
      YAML::Node parent = block.yaml();
      parent["pretrained"] = file;
    } else {
      node["file"] = file;
    }
  }
}

}  // namespace mmfuse::nn
