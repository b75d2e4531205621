#include "mmfuse/models/translator.h"

#include "mmfuse/core/error.h"

namespace mmfuse::models {

namespace {

Objective objective_from(const ConfigNode& n) {
  const auto s = n.as<std::string>();
  if (s == "ae") return Objective::ae;
  if (s == "vae") return Objective::vae;
  if (s == "gan") return Objective::gan;
  n.fail("unknown objective '" + s + "'; use ae, vae or gan");
}

ReconLoss recon_from(const ConfigNode& n) {
  const auto s = n.as<std::string>();
  if (s == "bce") return ReconLoss::bce;
  if (s == "mse") return ReconLoss::mse;
  if (s == "l1") return ReconLoss::l1;
  n.fail("unknown reconstruction loss '" + s + "'; use bce, mse or l1");
}

}  // namespace

std::string to_string(Objective o) {
  switch (o) {
    case Objective::ae:
      return "ae";
    case Objective::vae:
      return "vae";
    case Objective::gan:
      return "gan";
  }
  return "?";
}

TranslateConfig TranslateConfig::from_config(const ConfigNode& n) {
  if (n.is_null()) n.fail("a translation run needs a `translate:` section (source, target, ...)");
  n.check_keys({"source", "target", "objective", "latent", "noise", "decoder_channels", "recon",
                "recon_weight", "kl_weight", "adv_weight", "disc_channels", "disc_lr",
                "class_weight", "consistency_weight", "aux_channels", "aux_encoder", "output_basis",
                "select"});
  TranslateConfig c;
  c.source = modality_from_string(n.get<std::string>("source"));
  c.target = modality_from_string(n.get<std::string>("target"));
  if (c.source == c.target) n["target"].fail("target must differ from source");
  if (n.has("objective")) c.objective = objective_from(n["objective"]);
  if (n.has("recon")) c.recon = recon_from(n["recon"]);
  c.latent = n.get<int64_t>("latent", c.latent);
  c.noise = n.get<int64_t>("noise", c.objective == Objective::gan ? 16 : 0);
  c.decoder_channels = n.get<int64_t>("decoder_channels", c.decoder_channels);
  c.recon_weight = n.get<double>("recon_weight", c.recon_weight);
  c.kl_weight = n.get<double>("kl_weight", c.kl_weight);
  c.adv_weight = n.get<double>("adv_weight", c.adv_weight);
  c.disc_channels = n.get<int64_t>("disc_channels", c.disc_channels);
  c.disc_lr = n.get<double>("disc_lr", c.disc_lr);
  c.class_weight = n.get<double>("class_weight", c.class_weight);
  if (c.class_weight < 0) n["class_weight"].fail("must be >= 0");
  c.consistency_weight = n.get<double>("consistency_weight", c.consistency_weight);
  if (c.consistency_weight < 0) n["consistency_weight"].fail("must be >= 0");
  c.aux_channels = n.get<int64_t>("aux_channels", c.aux_channels);
  c.output_basis = n.get<int64_t>("output_basis", c.output_basis);
  if (c.output_basis < 0) n["output_basis"].fail("must be >= 0 (0: off)");
  if (c.aux_channels < 1) n["aux_channels"].fail("must be >= 1");
  if (n.has("aux_encoder")) {
    c.aux_encoder = n["aux_encoder"];
    if (!c.aux_encoder.is_map() || !c.aux_encoder.has("type")) {
      c.aux_encoder.fail("expected an encoder config, e.g. {type: lenet, channels: 6}");
    }
  }
  if (c.latent <= 0) n["latent"].fail("must be > 0");
  if (c.noise < 0) n["noise"].fail("must be >= 0");
  if (c.disc_lr <= 0) n["disc_lr"].fail("must be > 0");
  const std::string select = n.get<std::string>("select", "mse");
  if (select == "recognition") {
    if (c.consistency_weight <= 0) {
      n["select"].fail(
          "recognition is measured by the consistency classifier; set "
          "consistency_weight > 0 or select: mse");
    }
    c.select_recognition = true;
  } else if (select != "mse") {
    n["select"].fail("unknown '" + select + "'; known: mse, recognition");
  }
  return c;
}

TranslatorImpl::TranslatorImpl(TranslateConfig config, ConfigNode source_cfg,
                               std::vector<int64_t> source_shape, std::vector<int64_t> target_shape,
                               int64_t classes)
    : config_(config),
      source_cfg_(std::move(source_cfg)),
      source_shape_(std::move(source_shape)),
      target_shape_(std::move(target_shape)),
      classes_(classes) {
  reset();
}

void TranslatorImpl::reset() {
  if (target_shape_.size() != 3) {
    throw Error("translation target " + std::string(to_string(config_.target)) +
                " must be a [C, H, W] feature map (an image or a spectrogram), got " +
                std::to_string(target_shape_.size()) + " dimensions");
  }
  encoders::EncoderContext ctx{config_.source, source_shape_, 0};
  encoder_ =
      encoders::encoder_registry().make(source_cfg_.get<std::string>("type"), ctx, source_cfg_);
  register_module("encoder", encoder_.module());
  const int64_t d = encoder_->out_dim();
  to_code = register_module("to_code", torch::nn::Linear(d, config_.latent));
  if (config_.objective == Objective::vae) {
    to_logvar = register_module("to_logvar", torch::nn::Linear(d, config_.latent));
  }
  if (config_.class_weight > 0 && classes_ > 0) {
    classify = register_module("classify", torch::nn::Linear(config_.latent, classes_));
  }
  decoder = register_module(
      "decoder", ConvDecoder(ConvDecoderOptions(config_.latent + config_.noise, target_shape_)
                                 .channels(config_.decoder_channels)));
  if (config_.output_basis > 0) {
    const int64_t dim = target_shape_[0] * target_shape_[1] * target_shape_[2];
    basis_mean_ = register_buffer("basis_mean", torch::zeros({dim}));
    basis_ = register_buffer("basis", torch::zeros({config_.output_basis, dim}));
  }
}

void TranslatorImpl::fit_output_basis(const torch::Tensor& targets) {
  if (config_.output_basis <= 0) return;
  const int64_t k = config_.output_basis;
  const auto x = targets.detach().reshape({targets.size(0), -1}).to(torch::kFloat).cpu();
  if (x.size(0) <= k || x.size(1) != basis_.size(1)) {
    throw Error("translate.output_basis: " + std::to_string(k) + " components need more than " +
                std::to_string(k) + " training targets of " + std::to_string(basis_.size(1)) +
                " values; got " + std::to_string(x.size(0)) + " of " + std::to_string(x.size(1)));
  }
  torch::NoGradGuard no_grad;
  const auto mean = x.mean(0);                                                     // [D]
  const auto vh = std::get<2>(at::linalg_svd(x - mean, /*full_matrices=*/false));  // [r, D]
  basis_mean_.copy_(mean);
  basis_.copy_(vh.slice(0, 0, k));
}

torch::Tensor TranslatorImpl::project(const torch::Tensor& images) const {
  if (!basis_.defined()) return images;
  const auto x = images.reshape({images.size(0), -1}) - basis_mean_;  // [B, D]
  const auto coef = torch::matmul(x, basis_.t());                     // [B, K]
  return (torch::matmul(coef, basis_) + basis_mean_).view(images.sizes());
}

Translation TranslatorImpl::forward(const data::ModalityBatch& source, bool sample) {
  Translation t;
  const auto h = encoder_->encode(source).pooled;            // [B, D]
  t.code = to_code->forward(h);                              // [B, latent]
  if (classify) t.class_logits = classify->forward(t.code);  // [B, classes]
  torch::Tensor z = t.code;
  if (config_.objective == Objective::vae) {
    t.mu = t.code;
    t.logvar = to_logvar->forward(h).clamp(-10, 10);
    if (is_training() || sample) z = t.mu + torch::randn_like(t.mu) * (0.5 * t.logvar).exp();
  }
  if (config_.noise > 0) {
    auto eps = (is_training() || sample) ? torch::randn({z.size(0), config_.noise}, z.options())
                                         : torch::zeros({z.size(0), config_.noise}, z.options());
    z = torch::cat({z, eps}, 1);
  }
  t.logits = decoder->forward(z);  // [B, C, H, W]
  if (basis_.defined()) {
    // On the targets' subspace; back to logits so every consumer (losses, sigmoid) is unchanged.
    const auto p = project(torch::sigmoid(t.logits)).clamp(1e-4, 1 - 1e-4);
    t.logits = torch::log(p) - torch::log1p(-p);
  }
  return t;
}

}  // namespace mmfuse::models
