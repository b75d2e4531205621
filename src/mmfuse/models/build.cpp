#include "mmfuse/models/build.h"

#include <array>
#include <sstream>

#include "mmfuse/core/error.h"
#include "mmfuse/nn/encoders/pretrained.h"

namespace mmfuse::models {

namespace {

struct KindName {
  heads::TaskKind kind;
  const char* name;
};
constexpr std::array<KindName, 4> kKinds = {{{heads::TaskKind::classification, "class"},
                                             {heads::TaskKind::multilabel, "multilabel"},
                                             {heads::TaskKind::regression, "regression"},
                                             {heads::TaskKind::embedding, "embedding"}}};

std::string shape_str(const std::vector<int64_t>& shape) {
  std::ostringstream out;
  out << "[";
  for (std::size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << "]";
  return out.str();
}

Modality modality_at(const ConfigNode& node, const std::string& name) {
  try {
    return modality_from_string(name);
  } catch (const Error& e) {
    node.fail(e.what());
  }
}

// The head's own config: everything but the model-level `weight`.
ConfigNode without_weight(const ConfigNode& cfg) {
  if (!cfg.is_map()) return cfg;
  YAML::Node copy = YAML::Clone(cfg.yaml());
  copy.remove("weight");
  return ConfigNode(copy, cfg.path(), cfg.source());
}

// Token count T of `enc`'s token sequence, measured on one all-zero item (0 when the encoder
// gives no tokens or the input has a variable-length dimension). Leaves the encoder's mode and
// parameters untouched.
int64_t probe_token_count(const encoders::EncoderBlock& enc, const ModalityInput& in) {
  if (enc->token_dim() == 0) return 0;
  std::vector<int64_t> shape{1};
  for (int64_t d : in.item_shape) {
    if (d < 0) return 0;
    shape.push_back(d);
  }
  data::ModalityBatch probe;
  probe.data = torch::zeros(shape, in.vocab_size > 0 ? torch::kLong : torch::kFloat);
  probe.present = torch::ones({1}, torch::kBool);
  const bool was_training = enc.module()->is_training();
  enc.module()->eval();
  torch::Tensor tokens;
  {
    torch::NoGradGuard no_grad;
    tokens = enc->encode(probe).tokens;  // [1, T, Dt]
  }
  enc.module()->train(was_training);
  return tokens.defined() && tokens.dim() == 3 ? tokens.size(1) : 0;
}

}  // namespace

heads::TaskKind task_kind_from_string(const std::string& name) {
  std::string known;
  for (const auto& k : kKinds) {
    if (name == k.name) return k.kind;
    known += (known.empty() ? "" : ", ") + std::string(k.name);
  }
  throw ConfigError("unknown target type '" + name + "'; known: " + known);
}

std::string to_string(heads::TaskKind kind) {
  for (const auto& k : kKinds) {
    if (kind == k.kind) return k.name;
  }
  return "?";
}

ModelInputs ModelInputs::from_config(const ConfigNode& inputs, const ConfigNode& targets) {
  ModelInputs out;
  if (!inputs.is_map() || inputs.size() == 0) {
    inputs.fail("expected a map of modality input shapes, e.g. inputs: {image: [1, 28, 28]}");
  }
  for (const auto& key : inputs.keys()) {
    ConfigNode node = inputs[key];
    Modality m = modality_at(node, key);
    ModalityInput in;
    if (node.is_map()) {
      node.check_keys({"shape", "vocab"});
      in.item_shape = node.get<std::vector<int64_t>>("shape");
      in.vocab_size = node.get<int64_t>("vocab", 0);
    } else {
      in.item_shape = node.as<std::vector<int64_t>>();
    }
    for (int64_t d : in.item_shape) {
      if (d == 0 || d < -1) node.fail("expected sizes > 0 (or -1 for variable length)");
    }
    out.modalities[m] = in;
  }
  if (!targets.is_map() || targets.size() == 0) {
    targets.fail("expected a map of targets, e.g. targets: {digit: {type: class, classes: 10}}");
  }
  for (const auto& name : targets.keys()) {
    ConfigNode t = targets[name];
    t.check_keys({"type", "classes", "size"});
    TargetSpec spec;
    const std::string type = t.get<std::string>("type");
    try {
      spec.kind = task_kind_from_string(type);
    } catch (const ConfigError& e) {
      t["type"].fail(e.what());
    }
    const bool classes =
        spec.kind == heads::TaskKind::classification || spec.kind == heads::TaskKind::multilabel;
    const char* size_key = classes ? "classes" : "size";
    spec.size = t.get<int64_t>(size_key);
    if (spec.size <= 0) t[size_key].fail("expected a positive number");
    out.targets[name] = spec;
  }
  return out;
}

std::string ModelInputs::describe_modalities() const {
  std::string out;
  for (const auto& [m, in] : modalities) {
    out += (out.empty() ? "" : ", ") + std::string(to_string(m)) + " " + shape_str(in.item_shape);
  }
  return out.empty() ? "none" : out;
}

data::Batch example_batch(const ModelInputs& inputs, int64_t batch, int64_t seq_len) {
  data::Batch b;
  for (int64_t i = 0; i < batch; ++i) b.ids.push_back("example-" + std::to_string(i));
  for (const auto& [m, in] : inputs.modalities) {
    std::vector<int64_t> shape{batch};
    bool variable = false;
    for (int64_t d : in.item_shape) {
      variable |= d < 0;
      shape.push_back(d < 0 ? seq_len : d);
    }
    data::ModalityBatch mb;
    mb.data = in.vocab_size > 0 ? torch::randint(0, in.vocab_size, shape, torch::kLong)
                                : torch::rand(shape);
    mb.present = torch::ones({batch}, torch::kBool);
    if (variable) mb.lengths = torch::full({batch}, seq_len, torch::kLong);
    b.inputs[index_of(m)] = mb;
  }
  for (const auto& [name, t] : inputs.targets) {
    switch (t.kind) {
      case heads::TaskKind::classification:
        b.targets[name] = torch::randint(0, t.size, {batch}, torch::kLong);
        break;
      case heads::TaskKind::multilabel:
        b.targets[name] = torch::randint(0, 2, {batch, t.size}).to(torch::kFloat);
        break;
      default:
        b.targets[name] = torch::randn({batch, t.size});
    }
  }
  return b;
}

MultimodalModel build_model(const ConfigNode& model_cfg, const ModelInputs& inputs,
                            const Registries& registries, PretrainedWeights pretrained) {
  model_cfg.check_keys({"encoders", "fusion", "high_level", "heads"});
  ConfigNode enc_cfg = model_cfg["encoders"];
  if (!enc_cfg.is_map() || enc_cfg.size() == 0) {
    enc_cfg.fail("expected one encoder per modality, e.g. encoders: {image: {type: lenet}}");
  }
  ModelParts parts;
  fusion::FusionContext fctx;
  std::map<Modality, std::string> enc_paths;
  // Modality order, whatever the file order.
  std::map<Modality, ConfigNode> by_modality;
  for (const auto& key : enc_cfg.keys()) by_modality[modality_at(enc_cfg[key], key)] = enc_cfg[key];
  for (const auto& [m, cfg] : by_modality) {
    auto in = inputs.modalities.find(m);
    if (in == inputs.modalities.end()) {
      cfg.fail("the data has no " + std::string(to_string(m)) +
               " input (inputs: " + inputs.describe_modalities() +
               "); remove this encoder or add the modality to the data");
    }
    encoders::EncoderContext ctx{m, in->second.item_shape, in->second.vocab_size,
                                 in->second.vocabulary, pretrained == PretrainedWeights::load};
    encoders::EncoderBlock enc = encoders::make_encoder(ctx, cfg, *registries.encoders);
    fctx.modalities.push_back(m);
    fctx.dims.push_back(enc->out_dim());
    fctx.token_dims.push_back(enc->token_dim());
    fctx.token_counts.push_back(probe_token_count(enc, in->second));
    enc_paths[m] = cfg.path();
    parts.encoders.emplace_back(m, enc);
  }

  ConfigNode fusion_cfg = model_cfg["fusion"];
  int64_t dim = fctx.dims.front();
  if (!fusion_cfg.is_null()) {
    parts.fusion = registries.fusions->make(fusion_cfg.get<std::string>("type"), fctx, fusion_cfg);
    if (parts.fusion->needs_tokens()) {
      for (std::size_t i = 0; i < fctx.size(); ++i) {
        if (fctx.token_dims[i] == 0) {
          fusion_cfg.fail("fusion '" + fusion_cfg.get<std::string>("type") +
                          "' attends over token sequences, but encoder " +
                          enc_paths[fctx.modalities[i]] +
                          " gives none; configure that encoder to output tokens (e.g. keep the "
                          "feature map) or use a fusion of pooled vectors such as concat");
        }
      }
    }
    dim = parts.fusion->out_dim();
  } else if (fctx.size() > 1) {
    fusion_cfg.fail("required with " + std::to_string(fctx.size()) +
                    " encoders; e.g. fusion: {type: concat}");
  }

  if (ConfigNode hl = model_cfg["high_level"]; !hl.is_null()) {
    parts.high_level = HighLevelMlp(HighLevelMlpImpl::options_from_config(dim, hl));
    dim = parts.high_level->out_dim();
  }

  ConfigNode heads_cfg = model_cfg["heads"];
  if (!heads_cfg.is_map() || heads_cfg.size() == 0) {
    heads_cfg.fail("expected one head per target, e.g. heads: {digit: {type: mlp, hidden: 100}}");
  }
  std::string known_targets;
  for (const auto& [name, t] : inputs.targets)
    known_targets += (known_targets.empty() ? "" : ", ") + name;
  for (const auto& target : heads_cfg.keys()) {
    ConfigNode cfg = heads_cfg[target];
    auto t = inputs.targets.find(target);
    if (t == inputs.targets.end()) {
      cfg.fail("no target '" + target + "' in the data; targets: " + known_targets);
    }
    HeadSpec spec;
    spec.target = target;
    spec.spec = t->second;
    spec.loss_weight = cfg.get<double>("weight", 1.0);
    if (spec.loss_weight < 0) cfg["weight"].fail("expected a loss weight >= 0");
    heads::HeadContext hctx{dim, t->second.size, t->second.kind, target};
    spec.head = registries.heads->make(cfg.get<std::string>("type"), hctx,
                                       nn::without_pretrained(without_weight(cfg)));
    if (pretrained == PretrainedWeights::load) {
      nn::load_configured_pretrained(*spec.head.module(), cfg, "head");
    }
    parts.heads.push_back(std::move(spec));
  }
  return MultimodalModel(std::move(parts));
}

MultimodalModel build_model_from_config(const ConfigNode& root, const Registries& registries,
                                        ModelInputs* inputs_out) {
  if (root.has("data") && !root.has("inputs")) {
    root["data"].fail(
        "building from a dataset spec is not supported here yet; give the input "
        "shapes in an `inputs:` section and the targets in `targets:`");
  }
  ModelInputs inputs = ModelInputs::from_config(root["inputs"], root["targets"]);
  MultimodalModel model = build_model(root["model"], inputs, registries);
  if (inputs_out) *inputs_out = std::move(inputs);
  return model;
}

}  // namespace mmfuse::models
