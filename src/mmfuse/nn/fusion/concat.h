// Concatenation fusion: [z_1, ..., z_M] -> [B, sum D_i]. Absent modalities get a learned
// placeholder vector.
// Options balance the modalities before a shared head: `normalize: l2` divides each vector by
// its L2 norm (a TF-IDF row already has norm 1, MVSA's pooled MobileNetV2 features 21-38), and
// `scale: {image: 0.3}` multiplies one modality's vector. With a linear head that is a
// per-modality step size (Adam moves each weight by about lr, so a modality scaled by a moves
// the logits a times as fast) and a per-modality weight decay: 1,280 frozen ImageNet features
// otherwise take over a head within an epoch, before a sparse TF-IDF's evidence is learned.
// `power: {image: 0.5}` maps each component x to sign(x) |x|^p first (the power normalisation of
// pooled CNN features, Perronnin et al. 2010): a few large activations weigh less against many
// small ones.
#pragma once

#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "mmfuse/nn/fusion/common.h"
#include "mmfuse/nn/fusion/fusion.h"
#include "mmfuse/nn/fusion/missing.h"

namespace mmfuse::fusion {

struct ConcatFusionOptions {
  explicit ConcatFusionOptions(std::vector<int64_t> dims) : dims_(std::move(dims)) {}
  /// Modality i's factor (1 when `scales` does not name it).
  double scale_of(std::size_t i) const { return i < scales_.size() ? scales_[i] : 1.0; }
  /// Modality i's exponent (1 when `powers` does not name it).
  double power_of(std::size_t i) const { return i < powers_.size() ? powers_[i] : 1.0; }
  /// Pooled size of each input modality, in order.
  TORCH_ARG(std::vector<int64_t>, dims);
  /// Divide each modality's vector by its L2 norm before scaling and concatenation.
  TORCH_ARG(bool, l2_normalize) = false;
  /// Factor per modality, in order (empty: all 1).
  TORCH_ARG(std::vector<double>, scales);
  /// Exponent p per modality, in order (empty: all 1): x -> sign(x) |x|^p before normalizing.
  TORCH_ARG(std::vector<double>, powers);
};

/// sign(x) |x|^p; |x| below 1e-12 counts as 0 (value 0, gradient 0, never inf * 0).
inline torch::Tensor signed_power(const torch::Tensor& x, double p) {
  return torch::sign(x) * torch::pow(torch::abs(x).clamp_min(1e-12), p);
}

class ConcatFusionImpl : public torch::nn::Cloneable<ConcatFusionImpl>, public Fusion {
 public:
  static constexpr const char* kName = "concat";
  static constexpr const char* kDescription =
      "concatenation of the modality vectors (early/late concat), learned placeholders for absent "
      "ones; normalize: l2, scale: {modality: factor} and power: {modality: p} balance the "
      "modalities";

  explicit ConcatFusionImpl(ConcatFusionOptions options) : options(std::move(options)) { reset(); }

  static std::shared_ptr<ConcatFusionImpl> create(const FusionContext& ctx, const ConfigNode& cfg) {
    cfg.check_keys({"type", "normalize", "scale", "power"});
    ConcatFusionOptions opt(ctx.dims);
    opt.l2_normalize(choice_option(cfg, "normalize", "none", {"none", "l2"}) == "l2");
    opt.scales(values_by_name(ctx, cfg["scale"], "factor", "{image: 0.3}"));
    opt.powers(values_by_name(ctx, cfg["power"], "exponent", "{image: 0.5}"));
    return std::make_shared<ConcatFusionImpl>(opt);
  }

  /// {name: value, ...} -> one positive value per input (1 where not named); names must be inputs.
  static std::vector<double> values_by_name(const FusionContext& ctx, const ConfigNode& cfg,
                                            const std::string& what, const std::string& example) {
    std::vector<double> out(ctx.size(), 1.0);
    if (cfg.is_null()) return out;
    if (!cfg.is_map()) cfg.fail("expected a map {modality: " + what + "}, e.g. " + example);
    for (const auto& key : cfg.keys()) {
      const double value = cfg[key].as<double>();
      if (!std::isfinite(value) || value <= 0) cfg[key].fail("expected a positive " + what);
      std::string names;
      bool found = false;
      for (std::size_t i = 0; i < ctx.size(); ++i) {
        names += (i ? ", " : "") + ctx.input_name(i);
        if (ctx.input_name(i) == key) out[i] = value, found = true;
      }
      if (!found) cfg[key].fail("'" + key + "' is not an input of this fusion (" + names + ")");
    }
    return out;
  }

  void reset() override {
    placeholders_.clear();
    for (std::size_t i = 0; i < options.dims().size(); ++i) {
      placeholders_.push_back(register_parameter("placeholder_" + std::to_string(i),
                                                 torch::zeros({options.dims()[i]})));
    }
  }

  /// inputs[i].pooled: [B, D_i] -> fused [B, sum D_i]
  FusionOutput fuse(const std::vector<nn::Encoded>& inputs) override {
    TORCH_CHECK(inputs.size() == placeholders_.size(), "concat fusion expected ",
                placeholders_.size(), " modalities, got ", inputs.size());
    std::vector<torch::Tensor> parts;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      // The power acts on what the encoder gave; an absent row's placeholder is learned in the
      // powered space (mapped itself, a zero placeholder would get no gradient).
      const double power = options.power_of(i);
      const auto pooled = power == 1.0 ? inputs[i].pooled : signed_power(inputs[i].pooled, power);
      auto part = fill_missing(pooled, inputs[i].present, placeholders_[i]);
      if (options.l2_normalize())  // an all-zero row (an empty text) stays zero
        part = part / part.norm(2, {1}, true).clamp_min(1e-12);
      const double scale = options.scale_of(i);
      parts.push_back(scale == 1.0 ? part : part * scale);
    }
    return {torch::cat(parts, 1), {}};
  }

  int64_t out_dim() const override {
    return std::accumulate(options.dims().begin(), options.dims().end(), int64_t{0});
  }

  ConcatFusionOptions options;

 private:
  std::vector<torch::Tensor> placeholders_;
};
TORCH_MODULE(ConcatFusion);

}  // namespace mmfuse::fusion
