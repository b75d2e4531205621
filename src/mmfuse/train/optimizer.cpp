#include "mmfuse/train/optimizer.h"

#include "mmfuse/train/fused_sgd.h"

#include <cmath>

namespace mmfuse::train {

namespace {
constexpr double kPi = 3.14159265358979323846;
}  // namespace

OptimizerOptions OptimizerOptions::from_config(const ConfigNode& cfg) {
  cfg.check_keys({"type", "lr", "weight_decay", "momentum", "nesterov", "betas", "eps", "alpha"});
  OptimizerOptions o;
  const auto type = cfg.get<std::string>("type", "sgd");
  if (type == "sgd") {
    o.kind = OptimizerKind::sgd;
  } else if (type == "adam") {
    o.kind = OptimizerKind::adam;
  } else if (type == "adamw") {
    o.kind = OptimizerKind::adamw;
  } else if (type == "rmsprop") {
    o.kind = OptimizerKind::rmsprop;
  } else {
    cfg["type"].fail("unknown optimizer '" + type + "'; known: sgd, adam, adamw, rmsprop");
  }
  o.lr = cfg.get<double>("lr", o.lr);
  if (!(o.lr > 0.0)) cfg["lr"].fail("learning rate must be > 0");
  // AdamW's default decay is 0.01 (PyTorch's); the others' is 0.
  o.weight_decay = cfg.get<double>("weight_decay", o.kind == OptimizerKind::adamw ? 0.01 : 0.0);
  o.momentum = cfg.get<double>("momentum", 0.0);
  o.nesterov = cfg.get<bool>("nesterov", false);
  if (o.nesterov && o.momentum <= 0.0) cfg["nesterov"].fail("Nesterov needs momentum > 0");
  auto betas = cfg.get<std::vector<double>>("betas", {0.9, 0.999});
  if (betas.size() != 2) cfg["betas"].fail("expected two values [beta1, beta2]");
  o.betas = {betas[0], betas[1]};
  o.eps = cfg.get<double>("eps", 1e-8);
  o.alpha = cfg.get<double>("alpha", 0.99);
  return o;
}

double base_learning_rate(const ConfigNode& cfg) {
  return OptimizerOptions::from_config(cfg).lr;
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(
    const OptimizerOptions& o, std::vector<torch::optim::OptimizerParamGroup> groups) {
  switch (o.kind) {
    case OptimizerKind::sgd:
      return std::make_unique<FusedSGD>(std::move(groups), torch::optim::SGDOptions(o.lr)
                                                               .momentum(o.momentum)
                                                               .nesterov(o.nesterov)
                                                               .weight_decay(o.weight_decay));
    case OptimizerKind::adam:
      return std::make_unique<torch::optim::Adam>(std::move(groups),
                                                  torch::optim::AdamOptions(o.lr)
                                                      .betas({o.betas[0], o.betas[1]})
                                                      .eps(o.eps)
                                                      .weight_decay(o.weight_decay));
    case OptimizerKind::adamw:
      return std::make_unique<torch::optim::AdamW>(std::move(groups),
                                                   torch::optim::AdamWOptions(o.lr)
                                                       .betas({o.betas[0], o.betas[1]})
                                                       .eps(o.eps)
                                                       .weight_decay(o.weight_decay));
    case OptimizerKind::rmsprop:
      return std::make_unique<torch::optim::RMSprop>(std::move(groups),
                                                     torch::optim::RMSpropOptions(o.lr)
                                                         .alpha(o.alpha)
                                                         .eps(o.eps)
                                                         .momentum(o.momentum)
                                                         .weight_decay(o.weight_decay));
  }
  throw std::logic_error("unknown optimizer kind");
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimizerOptions& o,
                                                        std::vector<torch::Tensor> params) {
  std::vector<torch::optim::OptimizerParamGroup> groups;
  groups.emplace_back(std::move(params));
  return make_optimizer(o, std::move(groups));
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const ConfigNode& cfg,
                                                        std::vector<torch::Tensor> params) {
  return make_optimizer(OptimizerOptions::from_config(cfg), std::move(params));
}

void set_learning_rate(torch::optim::Optimizer& optimizer, double lr,
                       const std::vector<double>& multipliers) {
  auto& groups = optimizer.param_groups();
  for (std::size_t i = 0; i < groups.size(); ++i) {
    groups[i].options().set_lr(i < multipliers.size() ? lr * multipliers[i] : lr);
  }
}

ScheduleOptions ScheduleOptions::from_config(const ConfigNode& cfg) {
  ScheduleOptions o;
  if (cfg.is_null()) return o;
  cfg.check_keys(
      {"type", "warmup_steps", "step_size", "gamma", "min_lr", "factor", "patience", "mode"});
  const auto type = cfg.get<std::string>("type", "constant");
  if (type == "constant") {
    o.kind = ScheduleKind::constant;
  } else if (type == "step") {
    o.kind = ScheduleKind::step;
  } else if (type == "cosine") {
    o.kind = ScheduleKind::cosine;
  } else if (type == "plateau") {
    o.kind = ScheduleKind::plateau;
  } else {
    cfg["type"].fail("unknown schedule '" + type + "'; known: constant, step, cosine, plateau");
  }
  o.warmup_steps = cfg.get<int64_t>("warmup_steps", 0);
  o.step_size = cfg.get<int64_t>("step_size", 10);
  o.gamma = cfg.get<double>("gamma", 0.1);
  o.min_lr = cfg.get<double>("min_lr", 0.0);
  o.factor = cfg.get<double>("factor", 0.1);
  o.patience = cfg.get<int64_t>("patience", 2);
  const auto mode = cfg.get<std::string>("mode", "max");
  if (mode != "max" && mode != "min") cfg["mode"].fail("expected 'max' or 'min'");
  o.maximize = mode == "max";
  if (o.warmup_steps < 0) cfg["warmup_steps"].fail("must be >= 0");
  if (o.step_size < 1) cfg["step_size"].fail("must be >= 1");
  return o;
}

LrSchedule::LrSchedule(ScheduleOptions options, double base_lr, int64_t steps_per_epoch,
                       int64_t epochs)
    : options_(options),
      base_lr_(base_lr),
      steps_per_epoch_(std::max<int64_t>(1, steps_per_epoch)),
      total_steps_(std::max<int64_t>(1, steps_per_epoch * epochs)) {}

double LrSchedule::lr_at(int64_t step) const {
  double lr = base_lr_;
  switch (options_.kind) {
    case ScheduleKind::constant:
      break;
    case ScheduleKind::step:
      lr *= std::pow(options_.gamma,
                     static_cast<double>((step / steps_per_epoch_) / options_.step_size));
      break;
    case ScheduleKind::cosine: {
      const int64_t span = std::max<int64_t>(1, total_steps_ - options_.warmup_steps);
      const double t =
          std::min(1.0, std::max(0.0, static_cast<double>(step - options_.warmup_steps) / span));
      lr = options_.min_lr + 0.5 * (base_lr_ - options_.min_lr) * (1.0 + std::cos(kPi * t));
      break;
    }
    case ScheduleKind::plateau:
      lr *= plateau_scale_;
      break;
  }
  if (step < options_.warmup_steps)
    lr *= static_cast<double>(step + 1) / (options_.warmup_steps + 1);
  return lr;
}

void LrSchedule::on_epoch_end(double metric) {
  if (options_.kind != ScheduleKind::plateau) return;
  const bool better = !has_best_ || (options_.maximize ? metric > best_ : metric < best_);
  if (better) {
    best_ = metric;
    has_best_ = true;
    bad_epochs_ = 0;
  } else if (++bad_epochs_ > options_.patience) {
    plateau_scale_ *= options_.factor;
    bad_epochs_ = 0;
  }
}

nlohmann::json LrSchedule::state() const {
  return {{"plateau_scale", plateau_scale_},
          {"best", best_},
          {"has_best", has_best_},
          {"bad_epochs", bad_epochs_}};
}

void LrSchedule::load_state(const nlohmann::json& s) {
  plateau_scale_ = s.at("plateau_scale").get<double>();
  best_ = s.at("best").get<double>();
  has_best_ = s.at("has_best").get<bool>();
  bad_epochs_ = s.at("bad_epochs").get<int64_t>();
}

}  // namespace mmfuse::train
