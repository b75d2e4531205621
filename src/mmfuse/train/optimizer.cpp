#include "mmfuse/train/optimizer.h"

#include <cmath>

namespace mmfuse::train {

namespace {
constexpr double kPi = 3.14159265358979323846;
}  // namespace

double base_learning_rate(const ConfigNode& cfg) {
  double lr = cfg.get<double>("lr", 0.01);
  if (!(lr > 0.0)) cfg["lr"].fail("learning rate must be > 0");
  return lr;
}

std::unique_ptr<torch::optim::Optimizer> make_optimizer(const ConfigNode& cfg,
                                                        std::vector<torch::Tensor> params) {
  cfg.check_keys({"type", "lr", "weight_decay", "momentum", "nesterov", "betas", "eps", "alpha"});
  const auto type = cfg.get<std::string>("type", "sgd");
  const double lr = base_learning_rate(cfg);
  const double wd = cfg.get<double>("weight_decay", 0.0);
  if (type == "sgd") {
    auto o = torch::optim::SGDOptions(lr)
                 .momentum(cfg.get<double>("momentum", 0.0))
                 .nesterov(cfg.get<bool>("nesterov", false))
                 .weight_decay(wd);
    if (o.nesterov() && o.momentum() <= 0.0) cfg["nesterov"].fail("Nesterov needs momentum > 0");
    return std::make_unique<torch::optim::SGD>(std::move(params), o);
  }
  if (type == "adam" || type == "adamw") {
    auto betas = cfg.get<std::vector<double>>("betas", {0.9, 0.999});
    if (betas.size() != 2) cfg["betas"].fail("expected two values [beta1, beta2]");
    const double eps = cfg.get<double>("eps", 1e-8);
    if (type == "adam") {
      auto o = torch::optim::AdamOptions(lr).betas({betas[0], betas[1]}).eps(eps).weight_decay(wd);
      return std::make_unique<torch::optim::Adam>(std::move(params), o);
    }
    auto o = torch::optim::AdamWOptions(lr)
                 .betas({betas[0], betas[1]})
                 .eps(eps)
                 .weight_decay(cfg.has("weight_decay") ? wd : 0.01);
    return std::make_unique<torch::optim::AdamW>(std::move(params), o);
  }
  if (type == "rmsprop") {
    auto o = torch::optim::RMSpropOptions(lr)
                 .alpha(cfg.get<double>("alpha", 0.99))
                 .eps(cfg.get<double>("eps", 1e-8))
                 .momentum(cfg.get<double>("momentum", 0.0))
                 .weight_decay(wd);
    return std::make_unique<torch::optim::RMSprop>(std::move(params), o);
  }
  cfg["type"].fail("unknown optimizer '" + type + "'; known: sgd, adam, adamw, rmsprop");
}

void set_learning_rate(torch::optim::Optimizer& optimizer, double lr) {
  for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
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
