// FiLM (Perez et al. 2018): a conditioning modality c produces a per-feature scale and shift
//   [dgamma, beta] = W_c x_c,  gamma = 1 + dgamma
// that modulate the other modalities' projections: m_j = gamma * (W_j x_j) + beta. The m_j are
// concatenated ([B, (M-1) D]) or averaged ([B, D]). An absent conditioner gives the identity
// modulation (gamma = 1, beta = 0); absent modulated modalities get learned placeholders.
#pragma once

#include "mmfuse/nn/fusion/common.h"
#include "mmfuse/nn/fusion/missing.h"

namespace mmfuse::fusion {

struct FilmFusionOptions {
  explicit FilmFusionOptions(std::vector<int64_t> dims) : dims_(std::move(dims)) {}
  /// Pooled size of each input modality, in order.
  TORCH_ARG(std::vector<int64_t>, dims);
  /// Index of the conditioning modality (-1: the last one).
  TORCH_ARG(int64_t, conditioner) = -1;
  /// Common size D of the modulated projections.
  TORCH_ARG(int64_t, dim) = 64;
  /// Combine the modulated vectors by concatenation (true) or mean (false).
  TORCH_ARG(bool, concat) = true;
};

class FilmFusionImpl : public torch::nn::Cloneable<FilmFusionImpl>, public Fusion {
 public:
  static constexpr const char* kName = "film";
  static constexpr const char* kDescription =
      "FiLM: a conditioning modality scales and shifts the others' projections (then concat/mean)";

  explicit FilmFusionImpl(FilmFusionOptions options) : options(std::move(options)) { reset(); }

  /// Keys: conditioner (a modality name, default the last), dim, combine (concat | mean).
  static std::shared_ptr<FilmFusionImpl> create(const FusionContext& ctx, const ConfigNode& cfg) {
    cfg.check_keys({"type", "conditioner", "dim", "combine"});
    if (ctx.size() < 2) cfg.fail("film fusion needs at least 2 modalities, got 1");
    int64_t cond = int64_t(ctx.size()) - 1;
    if (cfg.has("conditioner")) {
      auto name = cfg.get<std::string>("conditioner");
      std::string known;
      cond = -1;
      for (std::size_t i = 0; i < ctx.size(); ++i) {
        if (ctx.input_name(i) == name) cond = int64_t(i);
        known += (known.empty() ? "" : ", ") + ctx.input_name(i);
      }
      if (cond < 0) cfg["conditioner"].fail("no input named '" + name + "'; inputs: " + known);
    }
    return std::make_shared<FilmFusionImpl>(
        FilmFusionOptions(ctx.dims)
            .conditioner(cond)
            .dim(positive_option(cfg, "dim", 64))
            .concat(choice_option(cfg, "combine", "concat", {"concat", "mean"}) == "concat"));
  }

  void reset() override {
    const auto& d = options.dims();
    const int64_t m = int64_t(d.size());
    TORCH_CHECK(m >= 2, "film fusion expected at least 2 modalities, got ", m);
    cond_ = options.conditioner() < 0 ? m - 1 : options.conditioner();
    TORCH_CHECK(cond_ < m, "film conditioner index ", cond_, " out of range for ", m,
                " modalities");
    std::vector<int64_t> others;
    for (int64_t i = 0; i < m; ++i) {
      if (i != cond_) others.push_back(d[i]);
    }
    placeholders_ = register_placeholders(*this, "placeholder_", others);
    proj_ = register_projections(*this, "proj", others, options.dim());
    film_ = register_module("film", torch::nn::Linear(d[cond_], 2 * options.dim()));
  }

  /// inputs[i].pooled: [B, D_i] -> fused [B, (M-1) D] (concat) or [B, D] (mean)
  FusionOutput fuse(const std::vector<nn::Encoded>& inputs) override {
    check_inputs(kName, inputs, options.dims());
    const auto& c = inputs[cond_];
    auto gb = film_->forward(c.pooled).chunk(2, 1);
    auto cond_present = present_of(c).unsqueeze(1);
    auto gamma = torch::where(cond_present, 1 + gb[0], torch::ones_like(gb[0]));
    auto beta = torch::where(cond_present, gb[1], torch::zeros_like(gb[1]));
    std::vector<torch::Tensor> parts;
    std::size_t k = 0;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      if (int64_t(i) == cond_) continue;
      auto x = fill_missing(inputs[i].pooled, inputs[i].present, placeholders_[k]);
      parts.push_back(gamma * proj_[k]->as<torch::nn::Linear>()->forward(x) + beta);
      ++k;
    }
    auto fused = options.concat() ? torch::cat(parts, 1) : torch::stack(parts, 1).mean(1);
    return {fused, {}};
  }

  int64_t out_dim() const override {
    return options.concat() ? options.dim() * int64_t(options.dims().size() - 1) : options.dim();
  }

  FilmFusionOptions options;

 private:
  int64_t cond_ = 0;
  std::vector<torch::Tensor> placeholders_;
  torch::nn::ModuleList proj_ = nullptr;
  torch::nn::Linear film_ = nullptr;
};
TORCH_MODULE(FilmFusion);

}  // namespace mmfuse::fusion
