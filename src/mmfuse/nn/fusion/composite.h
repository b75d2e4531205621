// Composite (multi-combination) fusion: several fusions applied in parallel to the same
// encodings, their outputs merged by one more fusion that sees them as pseudo-modalities
// (pooled = branch output, no tokens, named branch_0, branch_1, ...; a branch output counts as
// present when the sample has at least one modality, so a sample with none gets the merge's
// learned placeholders instead of branch outputs computed from nothing):
//   {type: composite, combine: [concat, {type: low_rank, rank: 8}, cross_attention], merge: gated}
// Entries are fusion names or maps with their own options; children are built through
// fusion_registry() and registered as branch_0, branch_1, ..., merge. Children's extra losses are
// returned prefixed ("branch_1.adversarial", "merge.adversarial").
#pragma once

#include "mmfuse/nn/fusion/common.h"

namespace mmfuse::fusion {

struct CompositeFusionOptions {
  CompositeFusionOptions(FusionContext context, std::vector<ConfigNode> branches, ConfigNode merge)
      : context_(std::move(context)), branches_(std::move(branches)), merge_(std::move(merge)) {}
  /// The modalities every branch receives.
  TORCH_ARG(FusionContext, context);
  /// One config per branch: a fusion name (scalar) or a map with `type` and its options.
  TORCH_ARG(std::vector<ConfigNode>, branches);
  /// Config of the merging fusion (a name or a map), e.g. ConfigNode::parse("gated").
  TORCH_ARG(ConfigNode, merge);
};

class CompositeFusionImpl : public torch::nn::Cloneable<CompositeFusionImpl>, public Fusion {
 public:
  static constexpr const char* kName = "composite";
  static constexpr const char* kDescription =
      "several fusions in parallel (combine: [...]) merged by another fusion (merge: ...)";

  explicit CompositeFusionImpl(CompositeFusionOptions options) : options(std::move(options)) {
    reset();
  }

  /// Keys: combine (required, a non-empty list of fusion names or maps), merge (default concat).
  static std::shared_ptr<CompositeFusionImpl> create(const FusionContext& ctx,
                                                     const ConfigNode& cfg) {
    cfg.check_keys({"type", "combine", "merge"});
    auto combine = cfg["combine"];
    if (!combine.is_sequence() || combine.size() == 0) {
      combine.fail("expected a non-empty list of fusions, e.g. combine: [concat, tensor]");
    }
    std::vector<ConfigNode> branches;
    for (std::size_t i = 0; i < combine.size(); ++i) branches.push_back(combine.at(i));
    ConfigNode merge = cfg.has("merge") ? cfg["merge"] : ConfigNode::parse("concat", "<default>");
    return std::make_shared<CompositeFusionImpl>(CompositeFusionOptions(ctx, branches, merge));
  }

  void reset() override {
    const auto& reg = fusion_registry();
    branches_.clear();
    FusionContext merge_ctx;
    for (std::size_t i = 0; i < options.branches().size(); ++i) {
      const auto& cfg = options.branches()[i];
      branches_.push_back(reg.make(fusion_type_of(cfg), options.context(), cfg));
      register_module("branch_" + std::to_string(i), branches_.back().module());
      merge_ctx.dims.push_back(branches_.back()->out_dim());
      merge_ctx.token_dims.push_back(0);
      merge_ctx.input_names.push_back("branch_" + std::to_string(i));
    }
    merge_ = reg.make(fusion_type_of(options.merge()), merge_ctx, options.merge());
    if (merge_->needs_tokens()) {
      options.merge().fail("the merge fusion '" + fusion_type_of(options.merge()) +
                           "' needs tokens, but branch outputs are single vectors; use a pooled "
                           "fusion such as concat, gated or weighted_sum");
    }
    register_module("merge", merge_.module());
  }

  /// inputs: as for any fusion -> branch outputs [B, D_k] -> merged [B, merge out_dim]
  FusionOutput fuse(const std::vector<nn::Encoded>& inputs) override {
    TORCH_CHECK(inputs.size() == options.context().size(), "composite fusion expected ",
                options.context().size(), " modalities, got ", inputs.size());
    FusionOutput out;
    std::vector<nn::Encoded> mid;
    auto present = any_present(inputs);  // [B]
    for (std::size_t i = 0; i < branches_.size(); ++i) {
      auto b = branches_[i]->fuse(inputs);
      for (auto& [name, loss] : b.losses)
        out.losses["branch_" + std::to_string(i) + "." + name] = loss;
      mid.push_back(as_pseudo_input(b.fused, present));
    }
    auto merged = merge_->fuse(mid);
    for (auto& [name, loss] : merged.losses) out.losses["merge." + name] = loss;
    out.fused = merged.fused;
    return out;
  }

  int64_t out_dim() const override { return merge_->out_dim(); }
  bool needs_tokens() const override {
    return std::any_of(branches_.begin(), branches_.end(),
                       [](const FusionBlock& b) { return b->needs_tokens(); });
  }

  CompositeFusionOptions options;

 private:
  std::vector<FusionBlock> branches_;
  FusionBlock merge_;
};
TORCH_MODULE(CompositeFusion);

}  // namespace mmfuse::fusion
