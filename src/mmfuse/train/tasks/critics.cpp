#include "mmfuse/train/tasks/critics.h"

#include <filesystem>

#include "mmfuse/core/safetensors.h"
#include "mmfuse/train/translate_objectives.h"

namespace mmfuse::train {

namespace {

// zero_grad, backward, average across processes, step (when any process had samples).
void critic_step(const torch::Tensor& loss, torch::optim::Optimizer& opt,
                 const std::vector<torch::Tensor>& params, int64_t samples,
                 const TaskContext& ctx) {
  opt.zero_grad();
  if (loss.defined()) loss.backward();
  if (ctx.average_gradients(params, samples) > 0) opt.step();
}

}  // namespace

torch::Tensor masked_cross_entropy(const torch::Tensor& logits, const torch::Tensor& y) {
  return torch::nn::functional::cross_entropy(
      logits, y, torch::nn::functional::CrossEntropyFuncOptions().ignore_index(-1));
}

Critics::Critics(const models::TranslateConfig& cfg, const std::vector<int64_t>& target_shape,
                 int64_t classes, const ConfigNode& node, const torch::Device& device) {
  if (cfg.objective == models::Objective::gan) {
    disc_ = models::ConvDiscriminator(
        models::ConvDiscriminatorOptions(target_shape, cfg.latent).channels(cfg.disc_channels));
    disc_->to(device);
    disc_opt_ = std::make_unique<torch::optim::Adam>(
        disc_->parameters(), torch::optim::AdamOptions(cfg.disc_lr).betas({0.5, 0.999}));
  }
  if (cfg.consistency_weight > 0) {
    if (classes == 0) node["consistency_weight"].fail("the data has no class target; set it to 0");
    aux_ =
        models::TargetClassifier(models::TargetClassifierOptions(cfg.target, target_shape, classes)
                                     .channels(cfg.aux_channels)
                                     .encoder(cfg.aux_encoder));
    aux_->to(device);
    aux_opt_ =
        std::make_unique<torch::optim::Adam>(aux_->parameters(), torch::optim::AdamOptions(1e-3));
  }
}

torch::Tensor Critics::adversarial(const torch::Tensor& real, const torch::Tensor& fake,
                                   const torch::Tensor& code, const TaskContext& ctx) {
  const auto cond = code.detach();
  auto d_loss = discriminator_loss(disc_->forward(real, cond), disc_->forward(fake.detach(), cond));
  critic_step(d_loss, *disc_opt_, disc_->parameters(), real.size(0), ctx);
  disc_loss_sum_ += d_loss.item<double>();
  return generator_adversarial_loss(disc_->forward(fake, cond));
}

// The generated targets are classified in eval mode, as a separate classifier would see them
// (batch norm with the statistics of real targets, which generated ones do not update). The
// classifier's own gradients from the returned loss are cleared before its next step.
torch::Tensor Critics::consistency(const torch::Tensor& real, const torch::Tensor& fake,
                                   const torch::Tensor& y, const TaskContext& ctx) {
  const int64_t known = y.ge(0).sum().item<int64_t>();
  if (known == 0) {  // nothing to learn here, but the other processes may step
    critic_step({}, *aux_opt_, aux_->parameters(), 0, ctx);
    return {};
  }
  aux_->train();
  auto a_loss = masked_cross_entropy(aux_->logits(real), y);
  critic_step(a_loss, *aux_opt_, aux_->parameters(), known, ctx);
  aux_loss_sum_ += a_loss.item<double>();
  aux_->eval();
  return masked_cross_entropy(aux_->logits(fake), y);
}

void Critics::skip_step(const TaskContext& ctx) {
  if (disc_) critic_step({}, *disc_opt_, disc_->parameters(), 0, ctx);
  if (aux_) critic_step({}, *aux_opt_, aux_->parameters(), 0, ctx);
}

void Critics::train() {
  if (disc_) disc_->train();
}

std::vector<Companion> Critics::companions() {
  std::vector<Companion> out;
  if (disc_) out.push_back({"discriminator", disc_.ptr(), disc_opt_.get()});
  if (aux_) out.push_back({"aux_classifier", aux_.ptr(), aux_opt_.get()});
  return out;
}

nlohmann::json Critics::epoch_fields() const {
  nlohmann::json j = nlohmann::json::object();
  const double n = static_cast<double>(std::max<int64_t>(1, batches_));
  if (disc_) j["train_disc_loss"] = disc_loss_sum_ / n;
  if (aux_) j["train_aux_class_loss"] = aux_loss_sum_ / n;
  return j;
}

nlohmann::json Critics::state() const {
  return {
      {"disc_loss_sum", disc_loss_sum_}, {"aux_loss_sum", aux_loss_sum_}, {"batches", batches_}};
}

void Critics::load_state(const nlohmann::json& s) {
  disc_loss_sum_ = s.value("disc_loss_sum", 0.0);
  aux_loss_sum_ = s.value("aux_loss_sum", 0.0);
  batches_ = s.value("batches", int64_t{0});
}

void Critics::save(const std::string& dir) const {
  namespace fs = std::filesystem;
  if (disc_) save_module(*disc_, (fs::path(dir) / "discriminator.safetensors").string());
  if (aux_) save_module(*aux_, (fs::path(dir) / "aux_classifier.safetensors").string());
}

}  // namespace mmfuse::train
