// MultimodalModel: built parts combined (as TorchMultimodal's LateFusion does) —
//   per-modality encoders -> fusion -> [high-level block] -> one head per target.
// Submodule names are stable and used by checkpoints and parity mappings:
//   encoders.<modality>.*, fusion.*, high_level.*, heads.<target>.*
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "mmfuse/core/modality.h"
#include "mmfuse/data/batch.h"
#include "mmfuse/models/high_level.h"
#include "mmfuse/models/inputs.h"
#include "mmfuse/nn/encoders/encoder.h"
#include "mmfuse/nn/fusion/fusion.h"
#include "mmfuse/nn/heads/head.h"

namespace mmfuse::models {

struct ModelOutput {
  /// Per head (target name): [B, K] logits (classification/multilabel), values or embeddings.
  std::map<std::string, torch::Tensor> outputs;
  /// Extra scalar losses from the fusion (e.g. "adversarial"); the trainer adds them as given.
  std::map<std::string, torch::Tensor> losses;
  /// [B, D_fused]: the fusion output (the single encoder's pooled output without a fusion).
  torch::Tensor fused;
  /// [B, D_repr]: what the heads read (`fused` after the high-level block, if any).
  torch::Tensor representation;
};

/// One head with what the trainer needs to compute its loss.
struct HeadSpec {
  std::string target;
  TargetSpec spec;
  /// Weight of this head's loss in the total (multitask).
  double loss_weight = 1.0;
  heads::HeadBlock head;
};

/// The parts of a model, as built by build_model or by hand.
struct ModelParts {
  /// One per modality; the model iterates them in Modality order whatever the order here.
  std::vector<std::pair<Modality, encoders::EncoderBlock>> encoders;
  /// Required with two or more encoders; empty for a single-modality model.
  fusion::FusionBlock fusion;
  HighLevelMlp high_level{nullptr};
  std::vector<HeadSpec> heads;
};

/// The batch's input for the encoder of modality `m`; throws naming the config key to change when
/// the batch has no such input (shared by the module path and the runtime's inference plan).
const data::ModalityBatch& encoder_input(const data::Batch& batch, Modality m);

class MultimodalModelImpl : public torch::nn::Cloneable<MultimodalModelImpl> {
 public:
  /// Registers the given parts themselves (not copies) as submodules.
  /// Requires: >= 1 encoder, distinct modalities; a fusion when there are >= 2 encoders, whose
  ///           FusionContext order is the Modality order; >= 1 head, distinct targets.
  /// Throws Error otherwise.
  explicit MultimodalModelImpl(ModelParts parts);

  /// Re-registers deep copies of the current parts (used by clone()).
  void reset() override;

  /// batch: every modality of modalities() present in batch.inputs (others are ignored) ->
  /// outputs per head. Throws Error naming a modality the batch lacks.
  ModelOutput forward(const data::Batch& batch);

  /// The encoded modalities, in Modality order.
  const std::vector<Modality>& modalities() const { return modalities_; }
  /// Heads in config order; `head` members point at the registered submodules.
  std::vector<HeadSpec> heads() const;
  /// Loss weight per target.
  std::map<std::string, double> loss_weights() const;

  encoders::EncoderBlock encoder(Modality m) const;
  fusion::FusionBlock fusion() const;                      ///< empty for a single-modality model
  HighLevelMlp high_level() const { return high_level_; }  ///< empty without one
  heads::HeadBlock head(const std::string& target) const;

 private:
  void adopt(bool deep_copy);

  std::vector<Modality> modalities_;
  std::vector<HeadSpec> head_specs_;  // `head` blocks are refreshed from heads_ on access
  torch::nn::ModuleDict encoders_{nullptr};
  std::shared_ptr<torch::nn::Module> fusion_;
  HighLevelMlp high_level_{nullptr};
  torch::nn::ModuleDict heads_{nullptr};
};
TORCH_MODULE(MultimodalModel);

}  // namespace mmfuse::models
