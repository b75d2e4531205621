// The task of a run config, parsed once, and the model a task trains, built from the config and
// a fitted dataset. One run format for every task:
//
//   task: supervised      # the default: heads for class, multilabel and regression targets
//                         # (`classification` is accepted as another name for it)
//   task: retrieval       # two towers (two_tower.h) with a `retrieval:` section
//   task: translate       # a cross-modal translator (translator.h) with a `translate:` section
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <torch/torch.h>

#include "mmfuse/core/config.h"
#include "mmfuse/data/dataset.h"
#include "mmfuse/models/inputs.h"
#include "mmfuse/models/model.h"
#include "mmfuse/models/retrieval_config.h"
#include "mmfuse/models/translator.h"
#include "mmfuse/models/two_tower.h"

namespace mmfuse::models {

enum class TaskKind { supervised, retrieval, translate };

std::string to_string(TaskKind kind);
/// "supervised" (or "classification"), "retrieval", "translate"; anything else fails at `node`
/// listing the known names.
TaskKind task_kind_from_config(const ConfigNode& node);

/// The `task:` of a run config and its typed section.
struct TaskSpec {
  TaskKind kind = TaskKind::supervised;
  std::optional<RetrievalConfig> retrieval;  ///< task: retrieval
  std::optional<TranslateConfig> translate;  ///< task: translate

  /// From the root of a run config. A `retrieval:` section without `task:` means retrieval.
  /// Throws ConfigError naming the path (`task`, `retrieval.dim`, `translate.source`, ...).
  static TaskSpec from_config(const ConfigNode& root);
};

/// The model of a task; exactly the member of its kind is set.
struct TaskModel {
  TaskKind kind = TaskKind::supervised;
  MultimodalModel heads{nullptr};  ///< supervised
  TwoTower towers{nullptr};        ///< retrieval
  Translator translator{nullptr};  ///< translate

  /// The one trained module, whatever the task (parameters, buffers, save/load, device moves).
  std::shared_ptr<torch::nn::Module> module() const;
};

/// Model inputs (item shapes, vocabularies, target kinds and sizes) of a fitted dataset.
ModelInputs model_inputs(const data::Dataset& dataset);

/// The name of the dataset's first class target (the digit), or "" when it has none.
std::string first_class_target(const data::Dataset& dataset);

/// Fresh weights for `task` from the run config's `model:` section (`root["model"]`) and the
/// fitted dataset, with the encoders' `pretrained:` weights unless `pretrained` is skip.
/// Throws ConfigError naming the config path for anything the builders reject.
TaskModel build_task_model(const TaskSpec& task, const ConfigNode& root,
                           const data::Dataset& dataset,
                           PretrainedWeights pretrained = PretrainedWeights::load);

}  // namespace mmfuse::models
