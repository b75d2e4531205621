#include "mmfuse/models/model.h"

#include <algorithm>

#include "mmfuse/core/error.h"

namespace mmfuse::models {

// ---------------------------------------------------------------- HighLevelMlp

HighLevelMlpImpl::HighLevelMlpImpl(HighLevelMlpOptions options) : options(std::move(options)) {
  reset();
}

HighLevelMlpOptions HighLevelMlpImpl::options_from_config(int64_t in_dim, const ConfigNode& cfg) {
  cfg.check_keys({"type", "hidden", "dropout", "norm"});
  const std::string type = cfg.get<std::string>("type", "mlp");
  if (type != "mlp") cfg["type"].fail("unknown high-level block '" + type + "'; known: mlp");
  std::vector<int64_t> hidden;
  ConfigNode h = cfg["hidden"];
  if (h.is_scalar()) {
    hidden.push_back(h.as<int64_t>());
  } else {
    hidden = cfg.get<std::vector<int64_t>>("hidden");
  }
  if (hidden.empty() || *std::min_element(hidden.begin(), hidden.end()) <= 0) {
    h.fail("expected one or more positive layer widths, e.g. hidden: [256, 128]");
  }
  const double dropout = cfg.get<double>("dropout", 0.0);
  if (dropout < 0.0 || dropout >= 1.0) cfg["dropout"].fail("expected a probability in [0, 1)");
  const std::string norm = cfg.get<std::string>("norm", "none");
  if (norm != "none" && norm != "layer") cfg["norm"].fail("expected 'none' or 'layer'");
  return HighLevelMlpOptions(in_dim, hidden).dropout(dropout).layer_norm(norm == "layer");
}

void HighLevelMlpImpl::reset() {
  TORCH_CHECK(!options.hidden().empty(), "HighLevelMlp expected at least one layer width");
  torch::nn::Sequential net;
  int64_t in = options.in_dim();
  for (int64_t width : options.hidden()) {
    net->push_back(torch::nn::Linear(in, width));
    if (options.layer_norm()) {
      net->push_back(torch::nn::LayerNorm(torch::nn::LayerNormOptions({width})));
    }
    net->push_back(torch::nn::ReLU());
    if (options.dropout() > 0) net->push_back(torch::nn::Dropout(options.dropout()));
    in = width;
  }
  net_ = register_module("net", net);
}

torch::Tensor HighLevelMlpImpl::forward(const torch::Tensor& z) {
  return net_->forward(z);
}

// ---------------------------------------------------------------- MultimodalModel

MultimodalModelImpl::MultimodalModelImpl(ModelParts parts) {
  if (parts.encoders.empty()) throw Error("a model needs at least one encoder, got none");
  std::sort(parts.encoders.begin(), parts.encoders.end(),
            [](const auto& a, const auto& b) { return index_of(a.first) < index_of(b.first); });
  encoders_ = torch::nn::ModuleDict();
  for (const auto& [m, block] : parts.encoders) {
    const std::string name(to_string(m));
    if (!block) throw Error("encoder for " + name + " is empty");
    if (encoders_->contains(name)) throw Error("two encoders for modality " + name);
    encoders_->update({{name, block.module()}});
    modalities_.push_back(m);
  }
  if (modalities_.size() > 1 && !parts.fusion) {
    throw Error("a model with " + std::to_string(modalities_.size()) +
                " encoders needs a fusion; give one (e.g. concat)");
  }
  fusion_ = parts.fusion ? parts.fusion.module() : nullptr;
  high_level_ = parts.high_level;
  if (parts.heads.empty()) throw Error("a model needs at least one head, got none");
  heads_ = torch::nn::ModuleDict();
  for (auto& spec : parts.heads) {
    if (!spec.head) throw Error("head for target '" + spec.target + "' is empty");
    if (heads_->contains(spec.target)) throw Error("two heads for target '" + spec.target + "'");
    heads_->update({{spec.target, spec.head.module()}});
    spec.head = heads::HeadBlock();
    head_specs_.push_back(std::move(spec));
  }
  adopt(/*deep_copy=*/false);
}

void MultimodalModelImpl::reset() {
  adopt(/*deep_copy=*/true);
}

void MultimodalModelImpl::adopt(bool deep_copy) {
  if (deep_copy) {
    encoders_ = torch::nn::ModuleDict(
        std::dynamic_pointer_cast<torch::nn::ModuleDictImpl>(encoders_->clone()));
    heads_ = torch::nn::ModuleDict(
        std::dynamic_pointer_cast<torch::nn::ModuleDictImpl>(heads_->clone()));
    if (fusion_) fusion_ = fusion_->clone();
    if (high_level_) {
      high_level_ = HighLevelMlp(std::dynamic_pointer_cast<HighLevelMlpImpl>(high_level_->clone()));
    }
  }
  encoders_ = register_module("encoders", encoders_);
  if (fusion_) fusion_ = register_module("fusion", fusion_);
  if (high_level_) high_level_ = register_module("high_level", high_level_);
  heads_ = register_module("heads", heads_);
}

encoders::EncoderBlock MultimodalModelImpl::encoder(Modality m) const {
  const std::string name(to_string(m));
  if (!encoders_->contains(name)) throw Error("the model has no encoder for " + name);
  return encoders::EncoderBlock((*encoders_)[name]);
}

fusion::FusionBlock MultimodalModelImpl::fusion() const {
  return fusion::FusionBlock(fusion_);
}

heads::HeadBlock MultimodalModelImpl::head(const std::string& target) const {
  if (!heads_->contains(target)) {
    std::string known;
    for (const auto& k : heads_->keys()) known += (known.empty() ? "" : ", ") + k;
    throw Error("the model has no head for target '" + target + "'; heads: " + known);
  }
  return heads::HeadBlock((*heads_)[target]);
}

std::vector<HeadSpec> MultimodalModelImpl::heads() const {
  std::vector<HeadSpec> out = head_specs_;
  for (auto& spec : out) spec.head = head(spec.target);
  return out;
}

std::map<std::string, double> MultimodalModelImpl::loss_weights() const {
  std::map<std::string, double> out;
  for (const auto& spec : head_specs_) out[spec.target] = spec.loss_weight;
  return out;
}

const data::ModalityBatch& encoder_input(const data::Batch& batch, Modality m) {
  if (!batch.has(m)) {
    throw Error("the model encodes " + std::string(to_string(m)) +
                " but the batch has no such input; add it to the dataset or drop "
                "model.encoders." +
                std::string(to_string(m)));
  }
  return batch.at(m);
}

ModelOutput MultimodalModelImpl::forward(const data::Batch& batch) {
  std::vector<nn::Encoded> encoded;
  encoded.reserve(modalities_.size());
  for (Modality m : modalities_) {
    const data::ModalityBatch& input = encoder_input(batch, m);
    nn::Encoded e = encoder(m)->encode(input);  // pooled [B, D_m]
    if (!e.present.defined()) e.present = input.present;
    encoded.push_back(std::move(e));
  }
  ModelOutput out;
  if (fusion_) {
    fusion::FusionOutput f = fusion()->fuse(encoded);  // [B, D_fused]
    out.fused = f.fused;
    out.losses = std::move(f.losses);
  } else {
    out.fused = encoded.front().pooled;
  }
  out.representation = high_level_ ? high_level_->forward(out.fused) : out.fused;
  for (const auto& spec : head_specs_) {
    out.outputs[spec.target] = head(spec.target)->predict(out.representation);  // [B, K]
  }
  return out;
}

}  // namespace mmfuse::models
