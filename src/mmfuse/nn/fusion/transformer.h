// Joint transformer fusion: one Transformer encoder over all modalities' tokens, each projected to
// d, plus a learned modality-type embedding (and learned positions when the token count is
// known), led by a learned fusion token whose output is the fused vector. A modality without
// tokens (token_dim 0) contributes its pooled vector as a single token. Padding tokens and all
// tokens of an absent modality are masked as keys; the fusion token never is, so every softmax
// row has a real entry.
#pragma once

#include "mmfuse/nn/fusion/common.h"

namespace mmfuse::fusion {

struct TransformerFusionOptions {
  TransformerFusionOptions(std::vector<int64_t> dims, std::vector<int64_t> token_dims)
      : dims_(std::move(dims)), token_dims_(std::move(token_dims)) {}
  /// Pooled size of each input modality, in order.
  TORCH_ARG(std::vector<int64_t>, dims);
  /// Token size Dt of each modality (0: use the pooled vector as one token).
  TORCH_ARG(std::vector<int64_t>, token_dims);
  /// Token count T of each modality (0: unknown, no learned positions for it).
  TORCH_ARG(std::vector<int64_t>, token_counts) = {};
  /// Model size d (the output size).
  TORCH_ARG(int64_t, dim) = 64;
  /// Attention heads (d must be divisible by it).
  TORCH_ARG(int64_t, heads) = 4;
  /// Encoder layers.
  TORCH_ARG(int64_t, layers) = 1;
  /// Feed-forward width of each layer.
  TORCH_ARG(int64_t, ff) = 128;
  /// Dropout inside the layers (training only).
  TORCH_ARG(double, dropout) = 0.1;
};

class TransformerFusionImpl : public torch::nn::Cloneable<TransformerFusionImpl>, public Fusion {
 public:
  static constexpr const char* kName = "transformer";
  static constexpr const char* kDescription =
      "joint Transformer encoder over all modalities' tokens with a learned fusion token";

  explicit TransformerFusionImpl(TransformerFusionOptions options) : options(std::move(options)) {
    reset();
  }

  /// Keys: dim (64), heads (4), layers (1), ff (128), dropout (0.1).
  static std::shared_ptr<TransformerFusionImpl> create(const FusionContext& ctx,
                                                       const ConfigNode& cfg) {
    cfg.check_keys({"type", "dim", "heads", "layers", "ff", "dropout"});
    std::vector<int64_t> token_dims, counts;
    for (std::size_t i = 0; i < ctx.size(); ++i) {
      token_dims.push_back(ctx.token_dim(i));
      counts.push_back(ctx.token_count(i));
    }
    const int64_t dim = positive_option(cfg, "dim", 64), heads = positive_option(cfg, "heads", 4);
    if (dim % heads != 0) {
      cfg["heads"].fail("dim " + std::to_string(dim) + " is not divisible by heads " +
                        std::to_string(heads) + "; pick heads dividing dim");
    }
    auto dropout = cfg.get<double>("dropout", 0.1);
    if (dropout < 0 || dropout >= 1) {
      cfg["dropout"].fail("expected a probability in [0, 1), got " + std::to_string(dropout));
    }
    return std::make_shared<TransformerFusionImpl>(TransformerFusionOptions(ctx.dims, token_dims)
                                                       .token_counts(counts)
                                                       .dim(dim)
                                                       .heads(heads)
                                                       .layers(positive_option(cfg, "layers", 1))
                                                       .ff(positive_option(cfg, "ff", 128))
                                                       .dropout(dropout));
  }

  void reset() override {
    const int64_t m = int64_t(options.dims().size()), d = options.dim();
    proj_ = torch::nn::ModuleList();
    pos_.clear();
    for (int64_t i = 0; i < m; ++i) {
      const int64_t dt = token_dim(i);
      proj_->push_back(torch::nn::Linear(dt > 0 ? dt : options.dims()[i], d));
      const int64_t count =
          i < int64_t(options.token_counts().size()) ? options.token_counts()[i] : 0;
      pos_.push_back(dt > 0 && count > 0 ? register_parameter("pos_" + std::to_string(i),
                                                              torch::zeros({1, count, d}))
                                         : torch::Tensor());
    }
    proj_ = register_module("proj", proj_);
    type_ = register_parameter("type_embedding", torch::randn({m, d}) * 0.02);
    fusion_token_ = register_parameter("fusion_token", torch::randn({1, 1, d}) * 0.02);
    encoder_ = register_module("encoder",
                               torch::nn::TransformerEncoder(torch::nn::TransformerEncoderOptions(
                                   torch::nn::TransformerEncoderLayerOptions(d, options.heads())
                                       .dim_feedforward(options.ff())
                                       .dropout(options.dropout()),
                                   options.layers())));
  }

  /// inputs[i].tokens: [B, T_i, Dt_i] (or pooled [B, D_i] as one token) -> sequence
  /// [B, 1 + sum T_i, d] -> the fusion token's output [B, d]
  FusionOutput fuse(const std::vector<nn::Encoded>& inputs) override {
    check_inputs(kName, inputs, options.dims());
    const int64_t batch = inputs[0].pooled.size(0);
    std::vector<torch::Tensor> seq{fusion_token_.expand({batch, 1, -1})}, pad;
    pad.push_back(torch::zeros({batch, 1}, inputs[0].pooled.options().dtype(torch::kBool)));
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      torch::Tensor x, real;
      auto present = present_of(inputs[i]).unsqueeze(1);
      if (token_dim(i) > 0) {
        check_tokens(kName, inputs[i], i, token_dim(i));
        x = project_tokens(proj_, i, inputs[i].tokens);
        if (pos_[i].defined()) {
          TORCH_CHECK(x.size(1) <= pos_[i].size(1), "transformer fusion: modality ", i, " has ",
                      x.size(1), " tokens, more than its token count ", pos_[i].size(1),
                      " in the FusionContext");
          x = x + pos_[i].slice(1, 0, x.size(1));
        }
        real = token_mask_of(inputs[i]) & present;
      } else {
        x = proj_[i]->as<torch::nn::Linear>()->forward(inputs[i].pooled).unsqueeze(1);
        real = present;
      }
      seq.push_back(x + type_[int64_t(i)]);
      pad.push_back(real.logical_not());
    }
    auto src = torch::cat(seq, 1).transpose(0, 1);  // sequence-first [S, B, d]
    auto out = encoder_->forward(src, /*src_mask=*/{}, torch::cat(pad, 1));
    return {out.select(0, 0), {}};
  }

  int64_t out_dim() const override { return options.dim(); }

  TransformerFusionOptions options;

 private:
  int64_t token_dim(int64_t i) const {
    return i < int64_t(options.token_dims().size()) ? options.token_dims()[i] : 0;
  }

  torch::nn::ModuleList proj_ = nullptr;
  std::vector<torch::Tensor> pos_;
  torch::Tensor type_, fusion_token_;
  torch::nn::TransformerEncoder encoder_ = nullptr;
};
TORCH_MODULE(TransformerFusion);

}  // namespace mmfuse::fusion
