// Everything one training run holds while the loop runs (train/trainer.cpp), and how it is set
// up and finished: the run directory, the dataset and its splits, the task, the optimizer and
// schedule, the process group, and the trainer state that checkpoints carry.
#pragma once

#include <memory>
#include <string>

#include "mmfuse/data/dataset.h"
#include "mmfuse/train/checkpoint.h"
#include "mmfuse/train/data_parallel.h"
#include "mmfuse/train/optimizer.h"
#include "mmfuse/train/run_state.h"
#include "mmfuse/train/task.h"
#include "mmfuse/train/trainer.h"

namespace mmfuse::train {

struct Session {
  RunConfig config;
  std::string dir, last_ckpt, best_ckpt, metrics_path;
  torch::Device device = torch::kCPU;
  bool resumed = false;
  std::unique_ptr<DataParallel> dp;
  std::shared_ptr<data::Dataset> dataset;
  std::shared_ptr<const data::SampleSet> train, val_shard, test_shard;
  std::unique_ptr<TrainTask> task;
  std::shared_ptr<torch::nn::Module> module;  ///< the task model's module
  std::unique_ptr<torch::optim::Optimizer> optimizer;
  std::vector<double> lr_multipliers;  ///< per optimizer parameter group (train.transfer)
  TaskContext ctx;
  RunState state;
  int64_t loader_queue_peak_bytes = 0;  ///< the training loader's prefetch queue, at its fullest

  CheckpointParts parts();
  /// Writes checkpoints/last (process 0; every process takes part in gathering RNG states).
  void checkpoint(const data::LoaderPosition& position, const LrSchedule& schedule,
                  uint64_t metrics_bytes);
};

/// Reads or writes the config, fits or loads the dataset, builds the task and optimizer, joins
/// the process group and restores the last checkpoint when resuming.
std::unique_ptr<Session> open_session(const TrainRequest& request);

/// After the last epoch: the selected weights into model.safetensors, validation and test
/// results, summary.json, report.html and the task's artifacts (files by process 0).
TrainResult finish_session(Session& session, const TrainRequest& request, double wall_seconds);

}  // namespace mmfuse::train
