// Pipeline fusion: fusions applied one after another. Stage 0 fuses the modalities; each later
// stage fuses the previous stage's output as a single pseudo-modality "stage_<k-1>" (present when
// the sample has at least one modality; no tokens):
//   {type: pipeline, stages: [cross_attention, {type: early_concat, out: 32}]}
// refines the cross-attention output with a joint MLP. Stages are built through fusion_registry()
// and registered as stage_0, stage_1, ...; their extra losses are returned prefixed
// ("stage_0.adversarial"). Later stages must accept one input (a stage that needs 2 or more
// modalities, such as bilinear, fails at its config path).
#pragma once

#include "mmfuse/nn/fusion/common.h"

namespace mmfuse::fusion {

struct PipelineFusionOptions {
  PipelineFusionOptions(FusionContext context, std::vector<ConfigNode> stages)
      : context_(std::move(context)), stages_(std::move(stages)) {}
  /// The modalities the first stage receives.
  TORCH_ARG(FusionContext, context);
  /// One config per stage: a fusion name (scalar) or a map with `type` and its options.
  TORCH_ARG(std::vector<ConfigNode>, stages);
};

class PipelineFusionImpl : public torch::nn::Cloneable<PipelineFusionImpl>, public Fusion {
 public:
  static constexpr const char* kName = "pipeline";
  static constexpr const char* kDescription =
      "fusions in sequence (stages: [...]): each later stage refines the previous output";

  explicit PipelineFusionImpl(PipelineFusionOptions options) : options(std::move(options)) {
    reset();
  }

  /// Keys: stages (required, a non-empty list of fusion names or maps).
  static std::shared_ptr<PipelineFusionImpl> create(const FusionContext& ctx,
                                                    const ConfigNode& cfg) {
    cfg.check_keys({"type", "stages"});
    auto list = cfg["stages"];
    if (!list.is_sequence() || list.size() == 0) {
      list.fail("expected a non-empty list of fusions, e.g. stages: [gated, early_concat]");
    }
    std::vector<ConfigNode> stages;
    for (std::size_t i = 0; i < list.size(); ++i) stages.push_back(list.at(i));
    return std::make_shared<PipelineFusionImpl>(PipelineFusionOptions(ctx, stages));
  }

  void reset() override {
    const auto& reg = fusion_registry();
    stages_.clear();
    FusionContext ctx = options.context();
    for (std::size_t i = 0; i < options.stages().size(); ++i) {
      const auto& cfg = options.stages()[i];
      stages_.push_back(reg.make(fusion_type_of(cfg), ctx, cfg));
      if (i > 0 && stages_.back()->needs_tokens()) {
        cfg.fail("stage " + std::to_string(i) + " '" + fusion_type_of(cfg) +
                 "' needs tokens, but it receives the previous stage's single vector");
      }
      register_module("stage_" + std::to_string(i), stages_.back().module());
      ctx = FusionContext();
      ctx.dims = {stages_.back()->out_dim()};
      ctx.token_dims = {0};
      ctx.input_names = {"stage_" + std::to_string(i)};
    }
  }

  /// inputs: as for any fusion -> stage_0 [B, D_0] -> ... -> last stage [B, D_last]
  FusionOutput fuse(const std::vector<nn::Encoded>& inputs) override {
    TORCH_CHECK(inputs.size() == options.context().size(), "pipeline fusion expected ",
                options.context().size(), " modalities, got ", inputs.size());
    FusionOutput out;
    auto present = any_present(inputs);  // [B]
    std::vector<nn::Encoded> in = inputs;
    for (std::size_t i = 0; i < stages_.size(); ++i) {
      auto s = stages_[i]->fuse(in);
      for (auto& [name, loss] : s.losses)
        out.losses["stage_" + std::to_string(i) + "." + name] = loss;
      out.fused = s.fused;
      in = {as_pseudo_input(s.fused, present)};
    }
    return out;
  }

  int64_t out_dim() const override { return stages_.back()->out_dim(); }
  bool needs_tokens() const override { return stages_.front()->needs_tokens(); }

  PipelineFusionOptions options;

 private:
  std::vector<FusionBlock> stages_;
};
TORCH_MODULE(PipelineFusion);

}  // namespace mmfuse::fusion
