// What a task plugs into the one training loop (train/trainer.h), as a LightningModule plugs
// into Lightning's Trainer: the loop owns the mechanics (epochs, schedules, the checked optimizer
// step, gradient averaging across processes, progress, metrics.jsonl, checkpoints, exact resume,
// early stopping, the summary and the report); the task owns the math (the model it trains, the
// loss of a batch, the validation metric that selects the epoch, its final evaluation).
//
// Tasks are registered by kind (tasks/builtin.cpp): supervised heads, retrieval, translation.
// A new task is one small file implementing TrainTask plus one line there, never a new loop.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "mmfuse/core/collective.h"
#include "mmfuse/data/dataset.h"
#include "mmfuse/data/loader.h"
#include "mmfuse/models/task.h"
#include "mmfuse/train/train_config.h"

namespace mmfuse::train {

/// Averages the gradients of `params` over the processes, weighted by each process's sample
/// count `local` (so N processes with B/N samples equal one process with B); returns the global
/// sample count. One process: leaves the gradients as they are and returns `local`. Every
/// process must call it the same number of times per step.
using GradientAverager =
    std::function<int64_t(const std::vector<torch::Tensor>& params, int64_t local)>;

/// What the loop gives a task.
struct TaskContext {
  const RunConfig* config = nullptr;
  std::shared_ptr<const data::Dataset> dataset;
  std::shared_ptr<const data::SampleSet> train_samples;  ///< all of them (not a shard)
  torch::Device device = torch::kCPU;
  /// Combines evaluation results of the processes' shards (single_process() by default).
  const Collective* collective = &single_process();
  /// For optimizers a task steps itself (a GAN's discriminator).
  GradientAverager average_gradients = [](const std::vector<torch::Tensor>&, int64_t local) {
    return local;
  };
};

/// The loss of one batch.
struct StepLoss {
  torch::Tensor loss;   ///< scalar to minimise; undefined: nothing to learn in this batch
  int64_t samples = 0;  ///< samples the loss is a mean over (weights gradient averaging)
  nlohmann::json parts = nlohmann::json::object();  ///< named terms, logged per step
};

/// The validation of one epoch.
struct Validation {
  double metric = 0.0;      ///< selects the best epoch: higher is better
  std::string metric_name;  ///< "digit accuracy", "mean recall@1..10", "-val mse"
  nlohmann::json fields = nlohmann::json::object();  ///< added to the epoch's metrics line
};

/// A module or optimizer a task trains beside the model, saved in checkpoints under `name`.
struct Companion {
  std::string name;
  std::shared_ptr<torch::nn::Module> module;
  torch::optim::Optimizer* optimizer = nullptr;  ///< may be null
};

class TrainTask {
 public:
  virtual ~TrainTask() = default;

  /// The model being trained (its module is what the loop's optimizer, checkpoints and
  /// gradient averaging cover).
  virtual models::TaskModel& model() = 0;
  /// Training loader settings the task needs (e.g. drop_last for contrastive batches).
  virtual void adjust_loader(data::LoaderOptions& options) const {}
  /// Once before the first epoch of a fresh run (not on resume): data-dependent set-up.
  virtual void prepare(const TaskContext& ctx) {}
  /// Called when an epoch starts or resumes: `from_start` is false when a resumed run continues
  /// inside it (epoch sums kept in state() must not be reset then).
  virtual void start_epoch(bool from_start) {}
  /// The loss of `batch` (already on the device), in training mode. May step companions' own
  /// optimizers (averaging their gradients with ctx.average_gradients); the loop takes the
  /// model's optimizer step.
  virtual StepLoss loss(const data::Batch& batch, const TaskContext& ctx) = 0;
  /// Validation on this process's shard of the validation split (metrics over all shards).
  virtual Validation validate(const std::shared_ptr<const data::SampleSet>& val,
                              const TaskContext& ctx) = 0;
  /// Epoch statistics the task accumulated in loss() (added to the epoch's metrics line).
  virtual nlohmann::json epoch_fields() const { return nlohmann::json::object(); }
  /// Companions trained beside the model (checkpointed with it).
  virtual std::vector<Companion> companions() { return {}; }
  /// Task state that must survive a resume (epoch sums...); restored by load_state.
  virtual nlohmann::json state() const { return nlohmann::json::object(); }
  virtual void load_state(const nlohmann::json& state) {}
  /// Final evaluation of a split (this process's shard; metrics over all) for summary.json.
  virtual nlohmann::json evaluate(const std::shared_ptr<const data::SampleSet>& samples,
                                  const TaskContext& ctx) = 0;
  /// Task-specific summary.json fields, given the epoch history and the selected epoch's line.
  virtual void summarize(nlohmann::json& summary, const nlohmann::json& best_entry) const {}
  /// Files written beside model.safetensors at the end (the main process only).
  virtual void save_artifacts(const std::string& run_dir) const {}
};

/// Builds the task of `config` (fresh weights) for the fitted dataset.
using TaskFactory = std::function<std::unique_ptr<TrainTask>(const RunConfig& config,
                                                             const data::Dataset& dataset)>;

/// The registered tasks by kind.
class TaskRegistry {
 public:
  void add(models::TaskKind kind, TaskFactory factory);
  /// Throws Error naming the kind when none is registered.
  std::unique_ptr<TrainTask> make(const RunConfig& config, const data::Dataset& dataset) const;
  std::vector<models::TaskKind> kinds() const;

 private:
  std::map<models::TaskKind, TaskFactory> factories_;
};

/// The built-in tasks (tasks/builtin.cpp).
const TaskRegistry& task_registry();

}  // namespace mmfuse::train
