#include "mmfuse/train/transfer.h"

#include <algorithm>

#include "mmfuse/core/error.h"

namespace mmfuse::train {

namespace {

bool has_prefix(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

bool under_any(const std::string& name, const std::vector<std::string>& prefixes) {
  return std::any_of(prefixes.begin(), prefixes.end(),
                     [&](const std::string& p) { return has_prefix(name, p); });
}

// Fails at `path` when `prefix` matches none of `module`'s parameters.
void check_matches(const torch::nn::Module& module, const std::string& prefix,
                   const std::string& path) {
  for (const auto& p : module.named_parameters(true)) {
    if (has_prefix(p.key(), prefix)) return;
  }
  std::string some;
  int n = 0;
  for (const auto& p : module.named_parameters(true)) {
    if (n++ < 4) some += (some.empty() ? "" : ", ") + p.key();
  }
  throw ConfigError(path + ": '" + prefix + "' is the prefix of no parameter; names look like " +
                    some + " (see `mmfuse summary`)");
}

}  // namespace

TransferOptions TransferOptions::from_config(const ConfigNode& cfg) {
  TransferOptions o;
  if (cfg.is_null()) return o;
  // cache_features and feature_cache are read by FrozenFeatureConfig (frozen_features.h).
  cfg.check_keys(
      {"freeze", "freeze_epochs", "lr_mult", "bn_eval", "cache_features", "feature_cache"});
  cfg.get<bool>("cache_features", true);  // fails here, at the edge, when not a boolean
  o.freeze = cfg.get<std::vector<std::string>>("freeze", {});
  o.freeze_epochs = cfg.get<int64_t>("freeze_epochs", 0);
  if (o.freeze_epochs < 0) cfg["freeze_epochs"].fail("expected epochs >= 0 (0: the whole run)");
  for (const auto& p : o.freeze) {
    if (p.empty()) cfg["freeze"].fail("an empty prefix would freeze everything");
  }
  o.bn_eval = cfg.get<std::vector<std::string>>("bn_eval", {});
  const ConfigNode mult = cfg["lr_mult"];
  if (!mult.is_null() && !mult.is_map()) mult.fail("expected {prefix: multiplier}");
  for (const auto& key : mult.keys()) {
    const double m = mult.get<double>(key);
    if (m < 0) mult[key].fail("expected a multiplier >= 0");
    o.lr_mult[key] = m;
  }
  return o;
}

ParamGroups param_groups(const torch::nn::Module& module, const TransferOptions& o) {
  for (const auto& [prefix, m] : o.lr_mult) {
    check_matches(module, prefix, "train.transfer.lr_mult." + prefix);
  }
  ParamGroups g;
  g.multipliers.push_back(1.0);
  g.params.emplace_back();
  for (const auto& p : module.named_parameters(true)) {
    double mult = 1.0;
    std::size_t best = 0;
    for (const auto& [prefix, m] : o.lr_mult) {
      if (has_prefix(p.key(), prefix) && prefix.size() >= best) best = prefix.size(), mult = m;
    }
    auto it = std::find(g.multipliers.begin(), g.multipliers.end(), mult);
    if (it == g.multipliers.end()) {
      g.multipliers.push_back(mult);
      g.params.emplace_back();
      it = g.multipliers.end() - 1;
    }
    g.params[static_cast<std::size_t>(it - g.multipliers.begin())].push_back(p.value());
  }
  if (g.params.front().empty() && g.params.size() > 1) {
    g.params.erase(g.params.begin());
    g.multipliers.erase(g.multipliers.begin());
  }
  return g;
}

bool frozen_in(const TransferOptions& o, int64_t epoch) {
  return !o.freeze.empty() && (o.freeze_epochs == 0 || epoch < o.freeze_epochs);
}

namespace {

bool is_batch_norm(const torch::nn::Module& m) {
  return m.as<torch::nn::BatchNorm1d>() || m.as<torch::nn::BatchNorm2d>() ||
         m.as<torch::nn::BatchNorm3d>();
}

}  // namespace

int64_t apply_freeze(torch::nn::Module& module, const TransferOptions& o, int64_t epoch) {
  for (const auto& prefix : o.bn_eval) check_matches(module, prefix, "train.transfer.bn_eval");
  if (!o.bn_eval.empty()) {
    for (auto& m : module.named_modules("", /*include_self=*/false)) {
      if (is_batch_norm(*m.value()) && under_any(m.key() + ".", o.bn_eval)) m.value()->eval();
    }
  }
  if (o.freeze.empty()) return 0;
  for (const auto& prefix : o.freeze) check_matches(module, prefix, "train.transfer.freeze");
  const bool frozen = frozen_in(o, epoch);
  int64_t count = 0;
  for (auto& p : module.named_parameters(true)) {
    if (!under_any(p.key(), o.freeze)) continue;
    p.value().set_requires_grad(!frozen);
    if (frozen) count += p.value().numel();
  }
  if (frozen) {
    // A submodule named "encoders.image" is under the prefix "encoders.image." (and "encoders.").
    for (auto& m : module.named_modules("", /*include_self=*/false)) {
      if (under_any(m.key() + ".", o.freeze)) m.value()->eval();
    }
  }
  return count;
}

}  // namespace mmfuse::train
