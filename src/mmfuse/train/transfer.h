// Transfer-learning controls of the `train.transfer` section: freezing by module-name prefix
// (for the whole run or the first epochs), batch norm (and dropout) of frozen parts kept in eval
// mode, and per-prefix learning-rate multipliers (one optimizer parameter group each).
//
//   train:
//     transfer:
//       freeze: [encoders.image.]     # parameter-name prefixes (see `mmfuse summary`)
//       freeze_epochs: 2              # 0: frozen for the whole run; N: trained from epoch N + 1
//       lr_mult: {encoders.image.: 0.1}   # lr x multiplier (the longest matching prefix wins)
//       bn_eval: [encoders.image.]    # batch norm under these prefixes in eval mode all run long,
//                                     # also once trained (running statistics as loaded)
//       cache_features: true          # a wholly frozen encoder's outputs computed once and
//       feature_cache: DIR            # served (train/frozen_features.h, which reads these two)
//
// Names are those of the task model's parameters: `encoders.<modality>.…`, `fusion.…`,
// `high_level.…`, `heads.<target>.…`.
#pragma once

#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "mmfuse/core/config.h"

namespace mmfuse::train {

struct TransferOptions {
  std::vector<std::string> freeze;        ///< parameter-name prefixes
  int64_t freeze_epochs = 0;              ///< 0: the whole run
  std::map<std::string, double> lr_mult;  ///< prefix -> learning-rate multiplier (>= 0)
  std::vector<std::string> bn_eval;       ///< prefixes whose batch norm stays in eval mode

  bool empty() const { return freeze.empty() && lr_mult.empty() && bn_eval.empty(); }
  /// Errors name the config path (`train.transfer.freeze_epochs`).
  static TransferOptions from_config(const ConfigNode& cfg);
};

/// Parameters split by learning-rate multiplier, in a fixed order (multiplier 1 first).
struct ParamGroups {
  std::vector<std::vector<torch::Tensor>> params;
  std::vector<double> multipliers;  ///< one per group
};

/// Groups `module`'s parameters by the multiplier of their longest matching lr_mult prefix.
/// Throws ConfigError naming train.transfer.lr_mult when a prefix matches no parameter.
ParamGroups param_groups(const torch::nn::Module& module, const TransferOptions& options);

/// Whether the freeze prefixes are frozen in (0-based) `epoch`.
bool frozen_in(const TransferOptions& options, int64_t epoch);

/// Applies freezing for `epoch` to a module already switched to train mode: parameters under a
/// freeze prefix get requires_grad = !frozen, and while frozen each submodule under a prefix is
/// switched to eval (batch norm keeps its running statistics, dropout is off); batch norm under a
/// bn_eval prefix is switched to eval in every epoch (its affine weights still train). Returns the
/// number of frozen parameters. Throws ConfigError naming train.transfer.freeze (or bn_eval) when
/// a prefix matches no parameter.
int64_t apply_freeze(torch::nn::Module& module, const TransferOptions& options, int64_t epoch);

}  // namespace mmfuse::train
