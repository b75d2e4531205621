#include "mmfuse/models/two_tower.h"

#include <cmath>

#include "mmfuse/core/error.h"
#include "mmfuse/nn/encoders/pretrained.h"

namespace mmfuse::models {

TwoTowerImpl::TwoTowerImpl(Tower query, Tower candidate, TwoTowerOptions options)
    : options(std::move(options)), towers_{std::move(query), std::move(candidate)} {
  for (const auto& t : towers_) {
    if (!t.encoder || !t.projection) throw Error("two-tower model: a tower lacks a part");
  }
  if (towers_[0].modality == towers_[1].modality) {
    throw Error("two-tower model: the towers must embed different modalities, got " +
                std::string(to_string(towers_[0].modality)) + " twice");
  }
  if (towers_[0].projection->out_dim() != towers_[1].projection->out_dim()) {
    throw Error("two-tower model: the projections give " +
                std::to_string(towers_[0].projection->out_dim()) + " and " +
                std::to_string(towers_[1].projection->out_dim()) +
                " dimensions; both towers must embed into the same space");
  }
  adopt(false);
}

TwoTowerImpl::TwoTowerImpl(std::vector<std::shared_ptr<TwoTowerImpl>> members)
    : members_(std::move(members)) {
  if (members_.empty()) throw Error("two-tower ensemble: no members");
  for (std::size_t i = 0; i < members_.size(); ++i) {
    if (!members_[i]) throw Error("two-tower ensemble: member " + std::to_string(i) + " is null");
    if (members_[i]->query_modality() != members_[0]->query_modality() ||
        members_[i]->candidate_modality() != members_[0]->candidate_modality()) {
      auto pair = [](const TwoTowerImpl& t) {
        return std::string(to_string(t.query_modality())) + " -> " +
               std::string(to_string(t.candidate_modality()));
      };
      throw Error("two-tower ensemble: member " + std::to_string(i) + " embeds " +
                  pair(*members_[i]) + ", member 0 " + pair(*members_[0]) +
                  "; ensembles need runs with the same query and candidate modalities");
    }
  }
  adopt(false);
  for (Modality m : {query_modality(), candidate_modality()}) {
    auto& same = shared_encoders_[index_of(m)];
    for (std::size_t k = 0; k < members_.size(); ++k) same.push_back(k);
  }
}

void TwoTowerImpl::reset() {
  adopt(true);
}

Modality TwoTowerImpl::query_modality() const {
  return members_.empty() ? towers_[0].modality : members_[0]->query_modality();
}

Modality TwoTowerImpl::candidate_modality() const {
  return members_.empty() ? towers_[1].modality : members_[0]->candidate_modality();
}

int64_t TwoTowerImpl::dim() const {
  if (members_.empty()) return towers_[0].projection->out_dim();
  int64_t d = 0;
  for (const auto& m : members_) d += m->dim();
  return d;
}

void TwoTowerImpl::adopt(bool deep_copy) {
  if (!members_.empty()) {
    torch::nn::ModuleList list;
    torch::Tensor scale = torch::zeros({});
    for (auto& m : members_) {
      if (deep_copy) m = std::dynamic_pointer_cast<TwoTowerImpl>(m->clone());
      list->push_back(m);
      scale = scale + m->log_scale.detach();
    }
    register_module("members", list);
    log_scale = register_parameter("log_scale", scale / double(members_.size()));
    return;
  }
  torch::nn::ModuleDict encoders, projections;
  for (auto& t : towers_) {
    if (deep_copy) {
      t.encoder = t.encoder.clone();
      t.projection = t.projection.clone();
    }
    const std::string name(to_string(t.modality));
    encoders->update({{name, t.encoder.module()}});
    projections->update({{name, t.projection.module()}});
  }
  register_module("encoders", encoders);
  register_module("projections", projections);
  log_scale = register_parameter(
      "log_scale", torch::scalar_tensor(std::log(1.0 / options.temperature()), torch::kFloat));
}

const Tower& TwoTowerImpl::tower(Modality m) const {
  for (const auto& t : towers_) {
    if (t.modality == m) return t;
  }
  throw Error("the retrieval model embeds " + std::string(to_string(towers_[0].modality)) +
              " and " + std::string(to_string(towers_[1].modality)) + ", not " +
              std::string(to_string(m)) + "; query with one of those");
}

torch::Tensor TwoTowerImpl::embed(Modality m, const data::ModalityBatch& input) {
  if (!members_.empty()) {  // [B, sum D_k], unit rows
    const auto& same = shared_encoder_of(m);
    std::vector<torch::Tensor> pooled(members_.size()), parts;
    for (std::size_t k = 0; k < members_.size(); ++k) {
      pooled[k] = same[k] == k ? members_[k]->encode(m, input) : pooled[same[k]];
      parts.push_back(members_[k]->tower(m).projection->predict(pooled[k]));
    }
    return torch::cat(parts, 1) / std::sqrt(double(members_.size()));
  }
  return tower(m).projection->predict(encode(m, input));  // [B, D], unit rows
}

torch::Tensor TwoTowerImpl::encode(Modality m, const data::ModalityBatch& input) {
  const Tower& t = tower(m);
  // The encoder as registered now: the trainer may swap a frozen one for one serving its
  // precomputed outputs (train/frozen_features.h).
  encoders::EncoderBlock encoder = t.encoder;
  for (const auto& c : named_children()) {
    if (c.key() != "encoders") continue;
    const auto& dict = *c.value()->as<torch::nn::ModuleDict>();
    const std::string name(to_string(m));
    if (dict.contains(name)) encoder = encoders::EncoderBlock(dict[name]);
  }
  return encoder->encode(input).pooled;  // [B, D_enc]
}

void TwoTowerImpl::share_encoders(Modality m, std::vector<std::size_t> same) {
  if (members_.empty() || !has(m))
    throw Error("share_encoders: not an ensemble embedding " + std::string(to_string(m)));
  if (same.size() != members_.size()) {
    throw Error("share_encoders: " + std::to_string(same.size()) + " entries for " +
                std::to_string(members_.size()) + " members");
  }
  for (std::size_t k = 0; k < same.size(); ++k) {
    if (same[k] > k || same[same[k]] != same[k]) {
      throw Error("share_encoders: member " + std::to_string(k) + " must name itself or an " +
                  "earlier member that runs its own encoder");
    }
  }
  shared_encoders_[index_of(m)] = std::move(same);
}

std::pair<torch::Tensor, torch::Tensor> TwoTowerImpl::forward(const data::Batch& batch) {
  for (Modality m : {query_modality(), candidate_modality()}) {
    if (!batch.has(m)) {
      throw Error("the batch has no " + std::string(to_string(m)) +
                  " input; a retrieval run needs both of its modalities in the data");
    }
  }
  return {embed(query_modality(), batch.at(query_modality())),
          embed(candidate_modality(), batch.at(candidate_modality()))};
}

TwoTower build_two_tower(const RetrievalConfig& rc, const ConfigNode& model_cfg,
                         const models::ModelInputs& inputs, PretrainedWeights pretrained) {
  model_cfg.check_keys({"encoders"});
  ConfigNode enc_cfg = model_cfg["encoders"];
  std::vector<Tower> towers;
  for (Modality m : {rc.query, rc.candidate}) {
    const std::string name(to_string(m));
    ConfigNode cfg = enc_cfg[name];
    if (cfg.is_null()) {
      cfg.fail("missing: the encoder of the " + name + " tower, e.g. {type: lenet}");
    }
    auto in = inputs.modalities.find(m);
    if (in == inputs.modalities.end()) {
      cfg.fail("the data has no " + name + " input (inputs: " + inputs.describe_modalities() +
               "); add it to the dataset spec or change retrieval.modalities");
    }
    Tower t;
    t.modality = m;
    encoders::EncoderContext ctx{m, in->second.item_shape, in->second.vocab_size,
                                 in->second.vocabulary, pretrained == PretrainedWeights::load};
    t.encoder = encoders::make_encoder(ctx, cfg);
    heads::HeadContext hctx{t.encoder->out_dim(), rc.dim, heads::TaskKind::embedding, name};
    YAML::Node proj;
    proj["type"] = "projection";
    proj["hidden"] = rc.projection_hidden;
    t.projection = heads::head_registry().make(
        "projection", hctx, ConfigNode(proj, "retrieval.projection", model_cfg.source()));
    towers.push_back(std::move(t));
  }
  for (const auto& key : enc_cfg.keys()) {
    Modality m = modality_from_string(key);
    if (m != rc.query && m != rc.candidate) {
      enc_cfg[key].fail("no tower embeds " + key + " (retrieval.modalities); remove this encoder");
    }
  }
  return TwoTower(towers[0], towers[1], TwoTowerOptions().temperature(rc.temperature));
}

}  // namespace mmfuse::models
