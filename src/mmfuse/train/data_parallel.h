// What the training loop needs from data parallelism, one object per run: the process group
// (train/distributed.h, c10d + Gloo) when the run has several processes, nothing otherwise.
//   - at start: parameters and buffers broadcast from process 0;
//   - each step: the loss value, sample counts and a non-finite flag combined (every process
//     stops together on NaN), the model's gradients averaged weighted by samples (bucketed
//     allreduce overlapping backward), companions' gradients averaged on demand;
//   - evaluation: this process's shard of a split; outputs gathered (a Collective);
//   - checkpoints: every process's RNG state gathered to process 0, which alone writes files.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <torch/torch.h>

#include "mmfuse/core/collective.h"
#include "mmfuse/data/dataset.h"
#include "mmfuse/train/distributed_options.h"
#include "mmfuse/train/gradient_reducer.h"
#include "mmfuse/train/task.h"

namespace mmfuse::train {

/// A step's numbers over every process.
struct StepTotals {
  double loss = 0.0;    ///< sample-weighted mean of the processes' loss values
  int64_t samples = 0;  ///< samples of the global batch
  bool finite = true;   ///< false when any process's loss was NaN or Inf
};

class DataParallel {
 public:
  /// One process when options.world_size is 1 (no sockets); else joins the process group
  /// (throws Error naming MASTER_ADDR:MASTER_PORT when it cannot within the timeout).
  DataParallel(const DistributedOptions& options, const torch::Device& device,
               const GradientReducerOptions& reducer = {});
  ~DataParallel();

  int rank() const;
  int world_size() const;
  bool is_main() const { return rank() == 0; }
  const Collective& collective() const;

  /// Process 0's parameters and buffers of `module` copied to every process.
  void broadcast(torch::nn::Module& module);
  /// Watches `params`' gradients (the model's) for the bucketed allreduce.
  void watch(const std::vector<torch::Tensor>& params);
  /// Before backward: this process's sample count.
  void begin_backward(int64_t local_samples);
  /// After backward: gradients = sum over processes of local_samples * grad / global_samples.
  void end_backward(int64_t global_samples);
  /// Loss value, samples and finiteness over every process.
  StepTotals totals(double loss, int64_t samples);
  /// For companions (TaskContext::average_gradients).
  GradientAverager averager();
  /// Every process's CPU RNG state, in rank order (process 0 only gets them all; the others get
  /// an empty vector).
  std::vector<torch::Tensor> gather_rng_states();
  /// This process's contiguous part of `samples` (all of them with one process).
  std::shared_ptr<const data::SampleSet> shard(
      const std::shared_ptr<const data::SampleSet>& samples) const;
  void barrier();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace mmfuse::train
