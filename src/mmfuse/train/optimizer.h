// Optimizers and learning-rate schedules built from the `train.optimizer` / `train.schedule`
// config sections.
//
//   optimizer: {type: sgd|adam|adamw|rmsprop, lr: 0.01, weight_decay: 1e-4,
//               momentum: 0.9, nesterov: false,          # sgd (momentum also rmsprop)
//               betas: [0.9, 0.999], eps: 1e-8,          # adam/adamw (eps also rmsprop)
//               alpha: 0.99}                             # rmsprop
//   schedule:  {type: constant|step|cosine|plateau, warmup_steps: 0,
//               step_size: 10, gamma: 0.1,               # step (in epochs)
//               min_lr: 0,                               # cosine
//               factor: 0.1, patience: 2, mode: max}     # plateau (on the validation metric)
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "mmfuse/core/config.h"

namespace mmfuse::train {

enum class OptimizerKind { sgd, adam, adamw, rmsprop };

/// The `train.optimizer` section, parsed.
struct OptimizerOptions {
  OptimizerKind kind = OptimizerKind::sgd;
  double lr = 0.01;
  double weight_decay = 0.0;                   ///< adamw: 0.01 unless given
  double momentum = 0.0;                       ///< sgd, rmsprop
  bool nesterov = false;                       ///< sgd
  std::array<double, 2> betas = {0.9, 0.999};  ///< adam, adamw
  double eps = 1e-8;                           ///< adam, adamw, rmsprop
  double alpha = 0.99;                         ///< rmsprop

  /// Errors name the config path (`train.optimizer.type`).
  static OptimizerOptions from_config(const ConfigNode& cfg);
};

/// Builds the optimizer over `params`.
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const OptimizerOptions& options,
                                                        std::vector<torch::Tensor> params);
/// Builds the optimizer over parameter groups (same options; set_learning_rate scales each).
std::unique_ptr<torch::optim::Optimizer> make_optimizer(
    const OptimizerOptions& options, std::vector<torch::optim::OptimizerParamGroup> groups);
/// make_optimizer(OptimizerOptions::from_config(cfg), params).
std::unique_ptr<torch::optim::Optimizer> make_optimizer(const ConfigNode& cfg,
                                                        std::vector<torch::Tensor> params);

/// The learning rate the optimizer config asks for.
double base_learning_rate(const ConfigNode& optimizer_cfg);

/// Sets the learning rate of every parameter group: lr x multipliers[group] (1 past the end).
void set_learning_rate(torch::optim::Optimizer& optimizer, double lr,
                       const std::vector<double>& multipliers = {});

enum class ScheduleKind { constant, step, cosine, plateau };

struct ScheduleOptions {
  ScheduleKind kind = ScheduleKind::constant;
  int64_t warmup_steps = 0;  ///< linear warm-up from 0 over this many optimizer steps
  int64_t step_size = 10;    ///< step: epochs between decays
  double gamma = 0.1;        ///< step: decay factor
  double min_lr = 0.0;       ///< cosine: final learning rate
  double factor = 0.1;       ///< plateau: decay factor
  int64_t patience = 2;      ///< plateau: epochs without improvement before a decay
  bool maximize = true;      ///< plateau: whether the watched metric should go up

  static ScheduleOptions from_config(const ConfigNode& cfg);
};

/// Learning rate as a function of the optimizer step, plus reduce-on-plateau state.
/// Resumable: state() / load_state() carry the plateau counters.
class LrSchedule {
 public:
  LrSchedule(ScheduleOptions options, double base_lr, int64_t steps_per_epoch, int64_t epochs);

  /// Learning rate for optimizer step `step` (0-based, counted over the whole run).
  double lr_at(int64_t step) const;
  /// Reports the epoch's validation metric (used by `plateau`).
  void on_epoch_end(double metric);

  nlohmann::json state() const;
  void load_state(const nlohmann::json& state);

 private:
  ScheduleOptions options_;
  double base_lr_;
  int64_t steps_per_epoch_, total_steps_;
  double plateau_scale_ = 1.0;
  double best_ = 0.0;
  bool has_best_ = false;
  int64_t bad_epochs_ = 0;
};

}  // namespace mmfuse::train
