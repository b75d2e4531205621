#include "mmfuse/models/retrieval_config.h"

namespace mmfuse::models {

namespace {

Modality tower_modality_at(const ConfigNode& node) {
  try {
    return modality_from_string(node.as<std::string>());
  } catch (const Error& e) {
    node.fail(e.what());
  }
}

}  // namespace

Positives positives_from_config(const ConfigNode& node) {
  const std::string name = node.as<std::string>();
  if (name == "pair") return Positives::pair;
  if (name == "same_query") return Positives::same_query;
  node.fail("unknown positives '" + name + "'; known: pair, same_query");
}

std::string to_string(Positives p) {
  return p == Positives::pair ? "pair" : "same_query";
}

std::string RetrievalConfig::select_metric_name() const {
  return labels.empty() ? "mean recall@" + std::to_string(ks.front()) + ".." +
                              std::to_string(ks.back()) + " (both directions)"
                        : "mean precision@" + std::to_string(ks.back()) + " (both directions)";
}

RetrievalConfig RetrievalConfig::from_config(const ConfigNode& root) {
  RetrievalConfig c;
  ConfigNode r = root["retrieval"];
  if (r.is_null()) {
    r.fail("missing: a retrieval run needs retrieval: {modalities: [text, image], dim: 128}");
  }
  r.check_keys(
      {"modalities", "dim", "projection", "temperature", "max_scale", "labels", "positives", "ks"});
  ConfigNode mods = r["modalities"];
  if (!mods.is_sequence() || mods.size() != 2) {
    mods.fail("expected two modalities [query, candidate], e.g. [text, image]");
  }
  c.query = tower_modality_at(mods.at(0));
  c.candidate = tower_modality_at(mods.at(1));
  if (c.query == c.candidate) mods.fail("expected two different modalities");
  c.dim = r.get<int64_t>("dim", c.dim);
  if (c.dim < 1) r["dim"].fail("expected a positive embedding size");
  if (ConfigNode p = r["projection"]; !p.is_null()) {
    p.check_keys({"hidden"});
    c.projection_hidden = p.get<int64_t>("hidden", 0);
    if (c.projection_hidden < 0) p["hidden"].fail("expected 0 (one Linear) or a positive size");
  }
  c.temperature = r.get<double>("temperature", c.temperature);
  if (!(c.temperature > 0)) r["temperature"].fail("expected a temperature > 0, e.g. 0.07");
  c.max_scale = r.get<double>("max_scale", c.max_scale);
  if (!(c.max_scale >= 1.0 / c.temperature)) {
    r["max_scale"].fail("expected a clamp >= 1 / temperature");
  }
  c.labels = r.get<std::string>("labels", "");
  if (r.has("positives")) c.positives = positives_from_config(r["positives"]);
  if (!c.labels.empty() && c.positives != Positives::pair) {
    r["positives"].fail("with labels, equal labels are the positives; drop positives or labels");
  }
  c.ks = r.get<std::vector<int64_t>>("ks", c.ks);
  if (c.ks.empty()) r["ks"].fail("expected at least one K, e.g. [1, 5, 10]");
  for (std::size_t i = 0; i < c.ks.size(); ++i) {
    if (c.ks[i] < 1 || (i > 0 && c.ks[i] <= c.ks[i - 1])) {
      r["ks"].fail("expected increasing K >= 1, e.g. [1, 5, 10]");
    }
  }
  return c;
}

}  // namespace mmfuse::models
