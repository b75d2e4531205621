#include "mmfuse/models/ensemble.h"

#include <limits>
#include <set>

#include "mmfuse/core/error.h"

namespace mmfuse::models {

namespace {

// encoders.<m>: the modality's batch as it came. Encoded carries it for the ensemble fusion only:
// tokens = data, pooled = lengths (undefined when the batch has none), present.
class EnsembleInputImpl : public torch::nn::Cloneable<EnsembleInputImpl>, public encoders::Encoder {
 public:
  void reset() override {}
  nn::Encoded encode(const data::ModalityBatch& input) override {
    nn::Encoded e;
    e.tokens = input.data;
    e.pooled = input.lengths;
    e.present = input.present;
    return e;
  }
  int64_t out_dim() const override { return 1; }
};

// heads.<t>: target t's columns of the combination.
class EnsembleSliceImpl : public torch::nn::Cloneable<EnsembleSliceImpl>, public heads::Head {
 public:
  EnsembleSliceImpl(int64_t offset, int64_t size) : offset_(offset), size_(size) {}
  void reset() override {}
  torch::Tensor predict(const torch::Tensor& z) override { return z.narrow(1, offset_, size_); }
  int64_t out_dim() const override { return size_; }

 private:
  int64_t offset_, size_;
};

torch::Tensor ensemble_vote(const std::vector<torch::Tensor>& probs) {
  const auto n = static_cast<double>(probs.size());
  auto mean = torch::stack(probs).mean(0);  // [B, K]
  auto votes = torch::zeros_like(mean);
  for (const auto& p : probs) {
    votes += torch::one_hot(p.argmax(1), p.size(1)).to(mean.dtype());
  }
  return (votes + mean) / (n + 1.0);
}

// The fusion: runs the members, combines per target, outputs the heads' logits side by side.
class EnsembleFusionImpl : public torch::nn::Cloneable<EnsembleFusionImpl>, public fusion::Fusion {
 public:
  EnsembleFusionImpl(std::vector<MultimodalModel> members, std::vector<Modality> modalities,
                     std::vector<HeadSpec> heads, EnsembleMode mode)
      : members_(std::move(members)),
        modalities_(std::move(modalities)),
        heads_(std::move(heads)),
        mode_(mode) {
    reset();
  }

  void reset() override {
    list_ = register_module("members", torch::nn::ModuleList());
    for (auto& m : members_) list_->push_back(m);
  }

  fusion::FusionOutput fuse(const std::vector<nn::Encoded>& inputs) override {
    data::Batch batch;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const auto& e = inputs[i];
      batch.inputs[index_of(modalities_[i])] = data::ModalityBatch{e.tokens, e.present, e.pooled};
    }
    batch.ids.resize(static_cast<std::size_t>(inputs.front().present.size(0)));
    std::vector<ModelOutput> outs;
    for (std::size_t i = 0; i < list_->size(); ++i) {
      outs.push_back(list_->ptr<MultimodalModelImpl>(i)->forward(batch));
    }
    std::vector<torch::Tensor> columns;
    for (const auto& h : heads_) columns.push_back(combine(h, outs));
    fusion::FusionOutput f;
    f.fused = torch::cat(columns, 1);
    return f;
  }

  int64_t out_dim() const override {
    int64_t d = 0;
    for (const auto& h : heads_) d += h.spec.size;
    return d;
  }

 private:
  torch::Tensor combine(const HeadSpec& h, const std::vector<ModelOutput>& outs) const {
    std::vector<torch::Tensor> ys;
    for (const auto& o : outs) {
      const auto& y = o.outputs.at(h.target);
      switch (h.spec.kind) {
        case heads::TaskKind::classification:
          ys.push_back(torch::softmax(y, 1));
          break;
        case heads::TaskKind::multilabel:
          ys.push_back(torch::sigmoid(y));
          break;
        default:
          ys.push_back(y);
      }
    }
    if (h.spec.kind == heads::TaskKind::classification) {
      auto p = mode_ == EnsembleMode::vote ? ensemble_vote(ys) : torch::stack(ys).mean(0);
      return torch::log(p.clamp_min(std::numeric_limits<float>::min()));
    }
    auto mean = torch::stack(ys).mean(0);
    if (h.spec.kind == heads::TaskKind::multilabel) return torch::logit(mean);
    return mean;
  }

  std::vector<MultimodalModel> members_;
  std::vector<Modality> modalities_;
  std::vector<HeadSpec> heads_;
  EnsembleMode mode_;
  torch::nn::ModuleList list_{nullptr};
};

std::string ensemble_head_text(const HeadSpec& h) {
  return h.target + " (" + to_string(h.spec.kind) + ", " + std::to_string(h.spec.size) +
         " outputs)";
}

}  // namespace

std::string to_string(EnsembleMode mode) {
  return mode == EnsembleMode::vote ? "vote" : "mean";
}

EnsembleMode ensemble_mode_from_string(const std::string& name) {
  if (name == "mean") return EnsembleMode::mean;
  if (name == "vote") return EnsembleMode::vote;
  throw UsageError("unknown ensemble mode '" + name + "'; known: mean, vote");
}

MultimodalModel make_ensemble(const std::vector<MultimodalModel>& members,
                              const std::vector<std::string>& names, EnsembleMode mode) {
  if (members.empty()) throw Error("an ensemble needs at least one member run");
  const auto heads = members.front()->heads();
  std::set<Modality> used;
  for (std::size_t i = 0; i < members.size(); ++i) {
    const auto other = members[i]->heads();
    bool same = other.size() == heads.size();
    for (std::size_t k = 0; same && k < heads.size(); ++k) {
      same = other[k].target == heads[k].target && other[k].spec.kind == heads[k].spec.kind &&
             other[k].spec.size == heads[k].spec.size;
    }
    if (!same) {
      std::string a, b;
      for (const auto& h : heads) a += (a.empty() ? "" : ", ") + ensemble_head_text(h);
      for (const auto& h : other) b += (b.empty() ? "" : ", ") + ensemble_head_text(h);
      throw Error("ensemble members differ in their heads: " + names.front() + " has [" + a +
                  "] but " + names[i] + " has [" + b + "]; combine runs with the same targets " +
                  "and classes");
    }
    for (Modality m : members[i]->modalities()) used.insert(m);
  }
  ModelParts parts;
  std::vector<Modality> modalities;
  for (Modality m : kAllModalities) {
    if (!used.count(m)) continue;
    modalities.push_back(m);
    parts.encoders.emplace_back(m, encoders::EncoderBlock(std::make_shared<EnsembleInputImpl>()));
  }
  int64_t offset = 0;
  for (const auto& h : heads) {
    if (mode == EnsembleMode::vote && h.spec.kind != heads::TaskKind::classification) {
      throw Error("vote combines class predictions, but target '" + h.target +
                  "' is not a classification; use --mode mean");
    }
    HeadSpec spec = h;
    spec.head = heads::HeadBlock(std::make_shared<EnsembleSliceImpl>(offset, h.spec.size));
    offset += h.spec.size;
    parts.heads.push_back(spec);
  }
  parts.fusion =
      fusion::FusionBlock(std::make_shared<EnsembleFusionImpl>(members, modalities, heads, mode));
  return MultimodalModel(std::move(parts));
}

}  // namespace mmfuse::models
