// TwoTower: two modalities embedded into one space for retrieval (CLIP-style).
//   tower(m) = encoder(m) -> projection head (L2-normalised) : batch of m -> [B, D]
// plus the learned log logit scale `log_scale` (exp(log_scale) = 1 / temperature).
// Submodule names (checkpoints): encoders.<modality>.*, projections.<modality>.*, log_scale.
// The towers are built parts (encoder and projection from the model zoo's registries), as
// MultimodalModel receives its parts.
#pragma once

#include <array>
#include <memory>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "mmfuse/core/config.h"
#include "mmfuse/data/batch.h"
#include "mmfuse/models/inputs.h"
#include "mmfuse/models/retrieval_config.h"
#include "mmfuse/nn/encoders/encoder.h"
#include "mmfuse/nn/heads/head.h"

namespace mmfuse::models {

/// One tower's built parts.
struct Tower {
  Modality modality = Modality::image;
  encoders::EncoderBlock encoder;
  heads::HeadBlock projection;  ///< must output unit-norm rows (heads::ProjectionHead does)
};

struct TwoTowerOptions {
  /// Initial temperature: log_scale starts at log(1 / temperature).
  TORCH_ARG(double, temperature) = 0.07;
};

class TwoTowerImpl : public torch::nn::Cloneable<TwoTowerImpl> {
 public:
  /// Requires: two towers of different modalities with the same projection out_dim.
  /// Throws Error otherwise.
  TwoTowerImpl(Tower query, Tower candidate, TwoTowerOptions options = {});
  /// An ensemble of trained two-tower models (`mmfuse ensemble` of retrieval runs): a tower's
  /// embedding is the members' unit embeddings concatenated and divided by sqrt(K), so it has
  /// unit norm and the cosine of two ensemble embeddings is the mean of the members' cosines.
  /// Submodules members.N.*; log_scale is the members' mean. Requires: at least one member, all
  /// with the same query and candidate modalities; throws Error naming the member otherwise.
  explicit TwoTowerImpl(std::vector<std::shared_ptr<TwoTowerImpl>> members);

  /// Re-registers deep copies of the towers (clone()); log_scale is re-initialised.
  void reset() override;

  /// One modality's batch [B, ...] -> embeddings [B, D] with unit L2 norm.
  /// Throws Error for a modality without a tower.
  torch::Tensor embed(Modality m, const data::ModalityBatch& input);

  /// Embeddings of both towers' modalities of `batch`: {query [B, D], candidate [B, D]}.
  std::pair<torch::Tensor, torch::Tensor> forward(const data::Batch& batch);

  Modality query_modality() const;
  Modality candidate_modality() const;
  bool has(Modality m) const { return m == query_modality() || m == candidate_modality(); }
  /// Embedding size (an ensemble's: the sum of its members').
  int64_t dim() const;
  /// Members of an ensemble (empty for a trained model).
  const std::vector<std::shared_ptr<TwoTowerImpl>>& members() const { return members_; }
  /// For each member of an ensemble, the member whose encoder of `m` embed runs for it: itself
  /// (the default) or an earlier member whose encoder computes the same function (members
  /// trained over one frozen pretrained encoder), so that encoder runs once for all of them.
  const std::vector<std::size_t>& shared_encoder_of(Modality m) const {
    return shared_encoders_[index_of(m)];
  }
  /// Sets shared_encoder_of(m): `same[k]` is k or an earlier member j with same[j] == j. The
  /// caller vouches that those encoders compute the same function (runtime/ensemble.cpp compares
  /// their weights and options); throws Error for a malformed list.
  void share_encoders(Modality m, std::vector<std::size_t> same);

  TwoTowerOptions options;
  torch::Tensor log_scale;  ///< [] learned

 private:
  void adopt(bool deep_copy);
  const Tower& tower(Modality m) const;
  /// A trained model's encoder output for `m` (pooled, before the projection).
  torch::Tensor encode(Modality m, const data::ModalityBatch& input);

  std::vector<Tower> towers_;                           ///< empty for an ensemble
  std::vector<std::shared_ptr<TwoTowerImpl>> members_;  ///< empty for a trained model
  std::array<std::vector<std::size_t>, kNumModalities> shared_encoders_;  ///< per modality
};
TORCH_MODULE(TwoTower);

/// Builds the towers from `model.encoders.<modality>` (encoder registry) and a projection head
/// (`projection` in the head registry) of size rc.dim per tower; encoders load their
/// `pretrained:` weights unless `pretrained` is skip.
/// Throws ConfigError naming the config path for a missing encoder or a modality the data lacks.
TwoTower build_two_tower(const RetrievalConfig& rc, const ConfigNode& model_cfg,
                         const models::ModelInputs& inputs,
                         PretrainedWeights pretrained = PretrainedWeights::load);

}  // namespace mmfuse::models
