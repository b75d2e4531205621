// The `train:` section of a run config, parsed once into a typed struct.
//
//   data: ../data/avmnist.yaml          # dataset spec, relative to the config file
//   train:
//     epochs: 5                          # 0: the initial (e.g. pretrained) weights as a run
//     batch_size: 40
//     seed: 0
//     deterministic: false               # torch deterministic algorithms
//     threads: 0                         # intra-op threads (0: leave torch's default)
//     loader_threads: 2                  # decode/augment workers
//     device: cpu                        # cpu | cuda | cuda:1
//     limit_train: 0                     # use only the first N training samples (0: all)
//     optimizer: {type: sgd, lr: 0.01, momentum: 0.9, weight_decay: 1.0e-4}
//     schedule: {type: cosine, warmup_steps: 100}
//     grad_clip_norm: 8.0                # 0: no clipping
//     select: best                       # best (on the validation metric) | last
//     early_stopping: {patience: 5, min_delta: 0.0}   # patience 0: off
//     checkpoint_every_steps: 0          # also checkpoint inside epochs (0: epoch ends only)
//     log_every_steps: 50                # a metrics.jsonl line every N steps
//     modality_dropout: 0.0              # drop a sample's modality with this probability
//     feature_noise: {image: 0.0, ...}   # Gaussian std on a modality's features
//     losses: {digit: {type: cross_entropy, label_smoothing: 0.1}}
//     kill_after_steps: 0                # crash tests: SIGKILL itself after step N (not on resume)
//     kill_rank: 0                       # ... in this process of a data-parallel run
//     distributed: {bucket_mb: 25, overlap: true, timeout_s: 1800}   # several processes only
//     memory_budget_mb: 0                # whole-process budget in MiB (0: none; core/memory.h):
//                                        # caps the RAM feature cache and the prefetch queue
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "mmfuse/core/config.h"
#include "mmfuse/core/memory.h"
#include "mmfuse/core/modality.h"
#include "mmfuse/data/loader.h"
#include "mmfuse/models/task.h"
#include "mmfuse/train/optimizer.h"
#include "mmfuse/train/transfer.h"

namespace mmfuse::train {

struct TrainConfig {
  int64_t epochs = 10;
  int64_t batch_size = 32;
  uint64_t seed = 0;
  bool deterministic = false;
  int threads = 0;
  int loader_threads = 2;
  std::string device = "cpu";
  int64_t limit_train = 0;
  OptimizerOptions optimizer;
  ScheduleOptions schedule;
  TransferOptions transfer;  ///< freezing and lr multipliers (transfer.h)
  double grad_clip_norm = 0.0;
  bool select_best = true;
  int64_t patience = 0;
  double min_delta = 0.0;
  int64_t checkpoint_every_steps = 0;
  int64_t log_every_steps = 50;
  double modality_dropout = 0.0;
  std::array<double, kNumModalities> feature_noise{};
  ConfigNode losses;             ///< per target, read by LossOptions::from_config
  int64_t kill_after_steps = 0;  ///< fault injection for crash/resume tests (0: off)
  int kill_rank = 0;             ///< the process that kills itself
  double bucket_mb = 25.0;       ///< data parallel: gradient bucket size (c10d's default)
  bool overlap = true;           ///< data parallel: all-reduce buckets during backward
  double timeout_s = 1800.0;     ///< data parallel: how long any wait for the others may take
  MemoryBudget memory;           ///< train.memory_budget_mb (or --memory-budget)

  /// Throws ConfigError naming `train.<key>` for bad values or unknown keys.
  static TrainConfig from_config(const ConfigNode& train);
};

/// A run config parsed once, at the edge, into typed sections:
///   data: dataset spec · task: + its section (models/task.h) · model: (read by the model
///   builders) · train: (TrainConfig).
struct RunConfig {
  ConfigNode root;   ///< the whole config, as saved in the run directory
  std::string data;  ///< the dataset spec, resolved against the config's folder
  models::TaskSpec task;
  TrainConfig train;

  /// Throws ConfigError naming the config path of the first bad value.
  static RunConfig from_config(const ConfigNode& root);
  /// A config file with command-line overrides (`train.epochs=3`) applied, parsed.
  static RunConfig load(const std::string& path, const std::vector<std::string>& overrides = {});
};

/// The loader settings of a training (shuffled, augmented) or evaluation pass (in order). Both use
/// the training batch size: evaluating at 256 made the audio LeNet's maps (77 MB at batch 256)
/// larger than the allocator's mmap threshold (core/allocator.h), so every batch's activations
/// were fresh pages and an lf test pass took 30-44 s instead of 9 s (docs/BENCHMARKS.md).
data::LoaderOptions loader_options(const TrainConfig& tc, bool train);

/// A run config file with command-line overrides (`train.epochs=3`) applied.
ConfigNode load_run_config(const std::string& path, const std::vector<std::string>& overrides);

/// The dataset spec path of a run config (`data:`), resolved against the config's folder.
std::string data_spec_path(const ConfigNode& root);

}  // namespace mmfuse::train
