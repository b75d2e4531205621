// Cross-modal attention (MulT-style, Tsai et al. 2019): each modality's tokens, projected to d
// (+ learned positions), attend to the other modalities' tokens; each result goes through a
// residual + LayerNorm and a masked mean over the query's tokens; the M pooled vectors are
// concatenated to z [B, M d] and refined: fused = z + ff(z), ff = Linear(M d, 2 M d), ReLU,
// Linear(2 M d, M d). For 2 modalities this is exactly the peer's CrossAttention (avmnist_peer.py)
// minus its LeNets and head; with more, each modality attends to all the others' tokens.
//
// Peer key -> mmfuse key (simple renames; see from_peer_key):
//   pi.{weight,bias} -> proj.0.*         pa.{weight,bias} -> proj.1.*        pos -> pos
//   i2a.{in_proj_weight,in_proj_bias,out_proj.weight,out_proj.bias} -> attn.0.*
//   a2i.* -> attn.1.*                    ni.{weight,bias} -> norm.0.*        na.* -> norm.1.*
//   ff.0.*, ff.2.* -> ff.0.*, ff.2.*
// mmfuse-only: missing_<i> [d], the pooled vector of branch i when it has nothing to attend to
// (query modality absent, or all the other modalities absent/padded); pos_<i> with per-modality
// positions.
// Requires: every input has tokens [B, T_i, Dt_i]; T_i <= the position table's length.
#pragma once

#include "mmfuse/nn/fusion/common.h"

namespace mmfuse::fusion {

/// Learned positional embeddings: none, one table shared by all modalities (the peer's `pos`,
/// needs equal token counts), or one per modality (`pos_<i>`).
enum class TokenPositions { none, shared, per_modality };

struct CrossAttentionFusionOptions {
  explicit CrossAttentionFusionOptions(std::vector<int64_t> token_dims)
      : token_dims_(std::move(token_dims)) {}
  /// Token size Dt of each input modality, in order.
  TORCH_ARG(std::vector<int64_t>, token_dims);
  /// Token count T of each modality (sizes the position tables; unused with positions none).
  TORCH_ARG(std::vector<int64_t>, token_counts) = {};
  /// Attention size d (the peer: 40); output size M d.
  TORCH_ARG(int64_t, dim) = 64;
  /// Attention heads (d must be divisible by it).
  TORCH_ARG(int64_t, heads) = 4;
  /// Learned positional embeddings.
  TORCH_ARG(TokenPositions, positions) = TokenPositions::shared;
};

class CrossAttentionFusionImpl : public torch::nn::Cloneable<CrossAttentionFusionImpl>,
                                 public Fusion {
 public:
  static constexpr const char* kName = "cross_attention";
  static constexpr const char* kDescription =
      "MulT-style cross-modal attention: each modality's tokens attend to the others' (peer xattn)";

  explicit CrossAttentionFusionImpl(CrossAttentionFusionOptions options)
      : options(std::move(options)) {
    reset();
  }

  /// Keys: dim (64), heads (4), positions (auto | shared | per_modality | none; auto = shared
  /// when all token counts are known and equal, per_modality when known, else none), tokens
  /// (token count per modality; default FusionContext::token_counts).
  static std::shared_ptr<CrossAttentionFusionImpl> create(const FusionContext& ctx,
                                                          const ConfigNode& cfg) {
    cfg.check_keys({"type", "dim", "heads", "positions", "tokens"});
    const std::size_t m = ctx.size();
    if (m < 2) cfg.fail("cross_attention needs at least 2 modalities, got " + std::to_string(m));
    std::vector<int64_t> token_dims, counts;
    for (std::size_t i = 0; i < m; ++i) {
      if (ctx.token_dim(i) <= 0) {
        cfg.fail("cross_attention needs token sequences from every encoder, but '" +
                 ctx.input_name(i) + "' gives none (token_dim 0); use an encoder that keeps its " +
                 "tokens or a pooled fusion such as gated");
      }
      token_dims.push_back(ctx.token_dim(i));
      counts.push_back(ctx.token_count(i));
    }
    if (cfg.has("tokens")) {
      counts = cfg.get<std::vector<int64_t>>("tokens");
      if (counts.size() != m) {
        cfg["tokens"].fail("expected " + std::to_string(m) +
                           " token counts (one per modality), got " +
                           std::to_string(counts.size()));
      }
    }
    const bool known = std::all_of(counts.begin(), counts.end(), [](int64_t t) { return t > 0; });
    const bool equal = known && std::adjacent_find(counts.begin(), counts.end(),
                                                   std::not_equal_to<>()) == counts.end();
    auto pos = choice_option(cfg, "positions", "auto", {"auto", "shared", "per_modality", "none"});
    if (pos == "auto") pos = equal ? "shared" : (known ? "per_modality" : "none");
    if ((pos == "shared" && !equal) || (pos == "per_modality" && !known)) {
      cfg["positions"].fail("positions '" + pos + "' needs " +
                            (pos == "shared" ? "equal, known" : "known") +
                            " token counts per modality; set `tokens: [T_0, T_1, ...]` or "
                            "positions: none");
    }
    const int64_t dim = positive_option(cfg, "dim", 64), heads = positive_option(cfg, "heads", 4);
    if (dim % heads != 0) {
      cfg["heads"].fail("dim " + std::to_string(dim) + " is not divisible by heads " +
                        std::to_string(heads) + "; pick heads dividing dim");
    }
    return std::make_shared<CrossAttentionFusionImpl>(
        CrossAttentionFusionOptions(token_dims)
            .token_counts(counts)
            .dim(dim)
            .heads(heads)
            .positions(pos == "shared" ? TokenPositions::shared
                       : pos == "none" ? TokenPositions::none
                                       : TokenPositions::per_modality));
  }

  /// The mmfuse parameter name of a peer CrossAttention key ("i2a.in_proj_weight" ->
  /// "attn.0.in_proj_weight"); keys outside the table are returned unchanged.
  static std::string from_peer_key(const std::string& key) {
    static const std::vector<std::pair<std::string, std::string>> kRenames = {
        {"pi.", "proj.0."},  {"pa.", "proj.1."}, {"i2a.", "attn.0."},
        {"a2i.", "attn.1."}, {"ni.", "norm.0."}, {"na.", "norm.1."}};
    for (const auto& [from, to] : kRenames) {
      if (key.rfind(from, 0) == 0) return to + key.substr(from.size());
    }
    return key;
  }

  void reset() override {
    const auto& dt = options.token_dims();
    const int64_t m = int64_t(dt.size()), d = options.dim();
    const auto& counts = options.token_counts();
    proj_ = register_projections(*this, "proj", dt, d);
    attn_ = torch::nn::ModuleList();
    norm_ = torch::nn::ModuleList();
    for (int64_t i = 0; i < m; ++i) {
      attn_->push_back(
          torch::nn::MultiheadAttention(torch::nn::MultiheadAttentionOptions(d, options.heads())));
      norm_->push_back(torch::nn::LayerNorm(torch::nn::LayerNormOptions({d})));
    }
    attn_ = register_module("attn", attn_);
    norm_ = register_module("norm", norm_);
    ff_ = register_module(
        "ff", torch::nn::Sequential(torch::nn::Linear(m * d, 2 * m * d), torch::nn::ReLU(),
                                    torch::nn::Linear(2 * m * d, m * d)));
    missing_ = register_placeholders(*this, "missing_", std::vector<int64_t>(m, d));
    pos_.clear();
    if (options.positions() == TokenPositions::shared) {
      TORCH_CHECK(!counts.empty() && counts[0] > 0,
                  "cross_attention shared positions need the token count, got none");
      pos_.push_back(register_parameter("pos", torch::zeros({1, counts[0], d})));
    } else if (options.positions() == TokenPositions::per_modality) {
      TORCH_CHECK(int64_t(counts.size()) == m, "cross_attention per-modality positions need ", m,
                  " token counts, got ", counts.size());
      for (int64_t i = 0; i < m; ++i) {
        pos_.push_back(
            register_parameter("pos_" + std::to_string(i), torch::zeros({1, counts[i], d})));
      }
    }
  }

  /// inputs[i].tokens: [B, T_i, Dt_i] (token_mask [B, T_i]) -> fused [B, M d]
  FusionOutput fuse(const std::vector<nn::Encoded>& inputs) override {
    const std::size_t m = options.token_dims().size();
    TORCH_CHECK(inputs.size() == m, "cross_attention fusion expected ", m, " modalities, got ",
                inputs.size());
    std::vector<torch::Tensor> t(m), pad(m);
    for (std::size_t i = 0; i < m; ++i) {
      check_tokens(kName, inputs[i], i, options.token_dims()[i]);
      auto x = project_tokens(proj_, i, inputs[i].tokens);  // [B, T_i, d]
      if (!pos_.empty()) {
        const auto& p = pos_[pos_.size() == 1 ? 0 : i];
        TORCH_CHECK(x.size(1) <= p.size(1), "cross_attention: modality ", i, " has ", x.size(1),
                    " tokens but the position table holds ", p.size(1),
                    "; set `tokens` to the encoder's token count");
        x = x + p.slice(1, 0, x.size(1));
      }
      t[i] = x;
      pad[i] = (token_mask_of(inputs[i]) & present_of(inputs[i]).unsqueeze(1)).logical_not();
    }
    std::vector<torch::Tensor> pooled;
    for (std::size_t i = 0; i < m; ++i) {
      std::vector<torch::Tensor> kv, kpad;
      for (std::size_t j = 0; j < m; ++j) {
        if (j != i) kv.push_back(t[j]), kpad.push_back(pad[j]);
      }
      auto keys = torch::cat(kv, 1), key_pad = torch::cat(kpad, 1);  // [B, S, d], [B, S]
      // A row whose keys are all masked would give NaN from the softmax: unmask it (finite
      // garbage) and replace its result by the learned missing_<i> below.
      auto nothing = key_pad.all(1);
      key_pad = key_pad & nothing.logical_not().unsqueeze(1);
      auto k = keys.transpose(0, 1);  // MultiheadAttention is sequence-first: [S, B, d]
      auto a = std::get<0>(attn_[i]->as<torch::nn::MultiheadAttention>()->forward(
          t[i].transpose(0, 1), k, k, key_pad, /*need_weights=*/false));
      auto c = norm_[i]->as<torch::nn::LayerNorm>()->forward(t[i] + a.transpose(0, 1));
      auto p = masked_mean(c, inputs[i].token_mask);  // [B, d]
      auto valid = present_of(inputs[i]) & token_mask_of(inputs[i]).any(1) & nothing.logical_not();
      pooled.push_back(torch::where(valid.unsqueeze(1), p, missing_[i].unsqueeze(0).expand_as(p)));
    }
    auto z = torch::cat(pooled, 1);
    return {z + ff_->forward(z), {}};
  }

  int64_t out_dim() const override { return options.dim() * int64_t(options.token_dims().size()); }
  bool needs_tokens() const override { return true; }

  CrossAttentionFusionOptions options;

 private:
  torch::nn::ModuleList proj_ = nullptr, attn_ = nullptr, norm_ = nullptr;
  torch::nn::Sequential ff_ = nullptr;
  std::vector<torch::Tensor> missing_, pos_;
};
TORCH_MODULE(CrossAttentionFusion);

}  // namespace mmfuse::fusion
