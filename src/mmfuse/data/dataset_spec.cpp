#include "mmfuse/data/dataset_spec.h"

#include <algorithm>
#include <filesystem>
#include <map>

#include "mmfuse/core/fs.h"
#include "mmfuse/core/hash.h"

namespace mmfuse::data {

namespace {

constexpr std::array<std::string_view, 3> kSplitNames = {"train", "val", "test"};

ModalitySpec parse_modality(Modality m, const ConfigNode& node) {
  ModalitySpec out;
  out.modality = m;
  if (!node.is_null() && !node.is_map()) node.fail("expected a map of pipeline options (or {})");
  out.field = node.get<std::string>("field", std::string(to_string(m)));
  out.pipeline = node.get<std::string>("pipeline", std::string(to_string(m)));
  YAML::Node options = node.is_map() ? YAML::Clone(node.yaml()) : YAML::Node(YAML::NodeType::Map);
  options.remove("field");
  options.remove("pipeline");
  out.options = ConfigNode(options, node.path(), node.source());
  return out;
}

TargetSpec parse_target(const std::string& name, const ConfigNode& node,
                        const std::string& base_dir) {
  node.check_keys({"field", "type", "required", "classes"});
  TargetSpec t;
  t.name = name;
  t.field = node.get<std::string>("field", name);
  std::string type = node.get<std::string>("type", "class");
  if (type == "class") {
    t.kind = TargetKind::class_label;
  } else if (type == "regression") {
    t.kind = TargetKind::regression;
  } else {
    node["type"].fail("unknown target type '" + type + "'; known: class, regression");
  }
  t.required = node.get<bool>("required", true);
  if (node.has("classes")) {
    if (t.kind != TargetKind::class_label) node["classes"].fail("only a class target has classes");
    t.classes_file = resolve_path(base_dir, node.get<std::string>("classes"));
  }
  return t;
}

CacheSpec parse_cache(const ConfigNode& node, const DatasetSpec& spec) {
  node.check_keys({"dir", "ram_mb", "dtype", "enabled"});
  CacheSpec c;
  std::string stem =
      spec.path.empty() ? "dataset" : std::filesystem::path(spec.path).stem().string();
  c.dir = resolve_path(spec.base_dir, node.get<std::string>("dir", ".mmfuse-cache/" + stem));
  c.ram_mb = node.get<int64_t>("ram_mb", c.ram_mb);
  if (c.ram_mb < 0)
    node["ram_mb"].fail("expected a size in MB >= 0, got " + std::to_string(c.ram_mb));
  std::string dtype = node.get<std::string>("dtype", "float16");
  if (dtype == "float16") {
    c.dtype = CacheDtype::float16;
  } else if (dtype == "float32") {
    c.dtype = CacheDtype::float32;
  } else {
    node["dtype"].fail("unknown cache dtype '" + dtype + "'; known: float16, float32");
  }
  c.enabled = node.get<bool>("enabled", true);
  return c;
}

}  // namespace

std::string_view to_string(Split s) {
  return kSplitNames.at(static_cast<std::size_t>(s));
}

Split split_from_string(std::string_view name) {
  for (Split s : kAllSplits) {
    if (to_string(s) == name) return s;
  }
  throw UsageError("unknown split '" + std::string(name) + "'; known: train, val, test");
}

DatasetSpec DatasetSpec::load(const std::string& path) {
  std::string text;
  try {
    text = read_file(path);
  } catch (const InputError& e) {
    throw ConfigError(path + ": cannot read the dataset spec (" + e.reason() + "); check the path");
  }
  DatasetSpec spec = parse(text, path, parent_dir(path));
  spec.path = path;
  return spec;
}

DatasetSpec DatasetSpec::parse(const std::string& yaml_text, const std::string& source,
                               const std::string& base_dir) {
  ConfigNode root = ConfigNode::parse(yaml_text, source);
  root.check_keys({"splits", "modalities", "targets", "cache", "skip_bad", "id_field", "limits",
                   "data_root", "video_field", "folds"});
  DatasetSpec spec;
  spec.path = source;
  spec.base_dir = base_dir;
  spec.yaml = yaml_text;

  ConfigNode splits = root["splits"];
  if (!splits.is_map()) splits.fail("expected a map {train: [manifests], val: [...], test: [...]}");
  splits.check_keys({"train", "val", "test"});
  for (Split s : kAllSplits) {
    ConfigNode list = splits[std::string(to_string(s))];
    if (list.is_null()) continue;
    if (list.is_scalar()) {  // one manifest: a list of one (re-parsing its text could throw)
      YAML::Node one(YAML::NodeType::Sequence);
      one.push_back(YAML::Clone(list.yaml()));
      list = ConfigNode(one, list.path(), source);
    }
    if (!list.is_sequence()) list.fail("expected a list of manifest paths");
    for (std::size_t i = 0; i < list.size(); ++i) {
      spec.splits[static_cast<std::size_t>(s)].push_back(
          resolve_path(base_dir, list.at(i).as<std::string>()));
    }
  }
  if (spec.manifests(Split::train).empty()) {
    splits["train"].fail("missing: the training split is needed to fit label maps and pipelines");
  }

  ConfigNode mods = root["modalities"];
  if (!mods.is_map() || mods.size() == 0) {
    mods.fail("expected a map of modalities, e.g. {image: {pipeline: image}}");
  }
  for (const auto& key : mods.keys()) {
    Modality m;
    try {
      m = modality_from_string(key);
    } catch (const ConfigError& e) {
      mods[key].fail(e.what());
    }
    spec.modalities[index_of(m)] = parse_modality(m, mods[key]);
  }

  ConfigNode targets = root["targets"];
  if (!targets.is_null() && !targets.is_map()) targets.fail("expected a map of targets");
  for (const auto& key : targets.keys())
    spec.targets.push_back(parse_target(key, targets[key], spec.base_dir));

  spec.cache = parse_cache(root["cache"], spec);
  spec.skip_bad = root.get<bool>("skip_bad", true);
  spec.id_field = root.get<std::string>("id_field", "id");
  spec.limits = InputLimits::parse(root["limits"]);
  if (root.has("data_root"))
    spec.data_root = resolve_path(base_dir, root.get<std::string>("data_root"));
  spec.video_field = root.get<std::string>("video_field", "");
  spec.folds = FoldSpec::parse(root["folds"]);
  if (!spec.folds.stratify.empty()) {
    std::string classes;
    bool found = false;
    for (const auto& t : spec.targets) {
      if (t.kind != TargetKind::class_label) continue;
      found = found || t.name == spec.folds.stratify;
      classes += (classes.empty() ? "" : ", ") + t.name;
    }
    if (!found) {
      root["folds"]["stratify"].fail("'" + spec.folds.stratify +
                                     "' is not a class target; the class targets: " +
                                     (classes.empty() ? std::string("none") : classes));
    }
  }
  return spec;
}

namespace {

uint64_t fold_hash(uint64_t seed, const std::string& id) {
  Hasher h;
  h.field("mmfuse-fold-v1");
  h.field(std::to_string(seed));
  h.field(id);
  return std::stoull(h.hex().substr(0, 15), nullptr, 16);
}

}  // namespace

int64_t FoldSpec::fold_of(const std::string& id) const {
  if (k <= 0) return 0;
  return static_cast<int64_t>(fold_hash(seed, id) % static_cast<uint64_t>(k));
}

std::vector<int64_t> FoldSpec::assign(const std::vector<Sample>& samples) const {
  std::vector<int64_t> out(samples.size(), 0);
  if (k <= 0) return out;
  if (stratify.empty()) {
    for (std::size_t i = 0; i < samples.size(); ++i) out[i] = fold_of(samples[i].id);
    return out;
  }
  // Per class (in name order), the samples by hash, dealt round-robin; the deal carries on from
  // one class to the next, so fold sizes stay within one of each other.
  std::map<std::string, std::vector<std::pair<uint64_t, std::size_t>>> classes;
  for (std::size_t i = 0; i < samples.size(); ++i) {
    const auto it = samples[i].targets.find(stratify);
    const auto* label =
        it == samples[i].targets.end() ? nullptr : std::get_if<std::string>(&it->second);
    classes[label ? *label : std::string()].emplace_back(fold_hash(seed, samples[i].id), i);
  }
  int64_t next = 0;
  for (auto& [label, members] : classes) {
    std::sort(members.begin(), members.end());
    for (const auto& m : members) out[m.second] = next++ % k;
  }
  return out;
}

FoldSpec FoldSpec::parse(const ConfigNode& node) {
  FoldSpec f;
  if (node.is_null()) return f;
  if (!node.is_map()) node.fail("expected {k: 5, fold: 0, seed: 0}");
  node.check_keys({"k", "fold", "seed", "stratify"});
  f.k = node.get<int64_t>("k", 0);
  f.fold = node.get<int64_t>("fold", 0);
  f.seed = static_cast<uint64_t>(node.get<int64_t>("seed", 0));
  f.stratify = node.get<std::string>("stratify", "");
  if (f.k == 1 || f.k < 0) node["k"].fail("expected at least 2 folds (or 0: none)");
  if (f.k > 0 && (f.fold < 0 || f.fold >= f.k)) {
    node["fold"].fail("expected a fold in [0, " + std::to_string(f.k) + ")");
  }
  return f;
}

DatasetSpec DatasetSpec::with_folds(const FoldSpec& f) const {
  ConfigNode root = ConfigNode::parse(yaml, path);
  root.set_override("folds={k: " + std::to_string(f.k) + ", fold: " + std::to_string(f.fold) +
                    ", seed: " + std::to_string(f.seed) +
                    (f.stratify.empty() ? "" : ", stratify: " + f.stratify) + "}");
  DatasetSpec out = parse(root.dump() + "\n", path, base_dir);
  out.path = path;
  return out;
}

DatasetSpec DatasetSpec::with_val_pooled() const {
  if (folds.k > 0) {
    throw UsageError("the dataset spec " + path + " has folds (k " + std::to_string(folds.k) +
                     "): its train and val are pooled into folds already; remove `folds:`");
  }
  YAML::Node train(YAML::NodeType::Sequence);  // resolved paths: they hold wherever the text goes
  for (Split s : {Split::train, Split::val}) {
    for (const auto& m : manifests(s)) train.push_back(m);
  }
  ConfigNode root = ConfigNode::parse(yaml, path);
  root.set_override("splits.train=" + YAML::Dump(train));
  root.set_override("splits.val=null");
  DatasetSpec out = parse(root.dump() + "\n", path, base_dir);
  out.path = path;
  return out;
}

std::vector<Modality> DatasetSpec::used_modalities() const {
  std::vector<Modality> out;
  for (Modality m : kAllModalities) {
    if (uses(m)) out.push_back(m);
  }
  return out;
}

ManifestSchema DatasetSpec::schema() const {
  ManifestSchema s;
  for (Modality m : kAllModalities) {
    if (uses(m)) s.fields[index_of(m)] = modalities[index_of(m)]->field;
  }
  s.targets = targets;
  s.id_field = id_field;
  s.limits = limits;
  s.data_root = data_root;
  s.video_field = video_field;
  return s;
}

}  // namespace mmfuse::data
