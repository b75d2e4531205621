// GradientReducer: data-parallel gradient averaging in buckets, overlapped with backward, after
// PyTorch's c10d::Reducer (torch/csrc/distributed/c10d/reducer.cpp, the engine of DDP).
//
//   auto comm = std::make_shared<Communicator>(options);
//   broadcast_state(*comm, *model);              // parameters AND buffers from rank 0, once
//   GradientReducer reducer(comm, model->parameters());
//   for each global batch (every rank takes every step, even with an empty slice):
//     optimizer.zero_grad();
//     reducer.prepare(local.size());
//     if (local.size() > 0) loss_mean_over_local_samples(model, local).backward();
//     reducer.finish(global_samples);          // every rank now holds the same gradients
//     optimizer.step();
//
// Result: after finish(N), every parameter's gradient is the sample-weighted mean
//   grad = sum_r(n_r * grad_r) / N,   n_r = prepare()'s local_samples, N = sum_r n_r,
// which is the gradient of the mean loss over the whole global batch: 2 ranks with B/2 samples
// each give what 1 process gives with B, also for a last partial batch or unequal shards.
// Requires: each rank's loss is the mean over its n_r samples; N equals the sum of the ranks'
// n_r (the ranks' counts travel in the last bucket when it is float or double: finish() then
// throws Error on a mismatch).
// Deterministic: for a fixed world size the result is bitwise the same whatever the timing, and
// identical on every rank (Gloo's ring sums every element in a fixed order), overlap on or off.
//
// Buckets: the parameters, in reverse order of registration (the order backward produces their
// gradients), are packed into flat buffers of about `bucket_mb` MB (the first one up to
// `first_bucket_mb`, so that communication starts early), one dtype and device per bucket, as
// c10d's compute_bucket_assignment_by_size does. A bucket is all-reduced as soon as all of its
// gradients are ready (overlap = true) while backward goes on with the rest; buckets are
// launched strictly in index order so that every rank issues the same collectives in the same
// order (Gloo matches them by order).
//
// Hooks: as c10d::Reducer does, a post hook on each parameter's gradient accumulator (the
// AccumulateGrad node, torch::autograd::impl::grad_accumulator) runs once the gradient has been
// added into param.grad(); it copies grad * n_r into the bucket. LibTorch 1.13 has no public C++
// hook that runs after accumulation: Tensor::register_hook runs before it and sees only the
// incoming gradient (not what is already in .grad), so the reducer uses that internal but
// exported autograd API, like PyTorch's own Reducer, and keeps the accumulators alive (a leaf
// holds its accumulator weakly). Hooks run on the thread that runs backward (CPU) or an autograd
// device thread (CUDA); the reducer serialises them.
//
// Unused parameters: a parameter whose hook did not run this step (a branch unused by this
// batch, or a rank with 0 local samples that skips backward) contributes zeros; its bucket is
// launched by finish(). No rank waits for a gradient that never comes, so nothing hangs, and
// after finish() its gradient is defined on every rank (PyTorch needs
// find_unused_parameters=True for this; here it is always on, at no extra cost).
// Backward outside prepare()/finish() is not reduced (like DDP's no_sync()).
//
// BatchNorm: as in PyTorch DDP without SyncBatchNorm, batch statistics are computed per rank
// over its local samples and the running statistics are updated per rank (they are buffers,
// not gradients), so results with BatchNorm depend on the world size. broadcast_state() makes
// them equal once at the start (rank 0's); rank 0's copy is the one to checkpoint.
//
// world_size 1: no hooks, prepare() and finish() do nothing; the gradients are the local ones.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include <torch/torch.h>

#include "mmfuse/train/distributed.h"

namespace mmfuse::train {

struct GradientReducerOptions {
  /// Target size of a bucket, in MB (c10d's default bucket_cap_mb).
  double bucket_mb = 25.0;
  /// Cap of the first bucket (the last parameters registered), in MB (c10d: 1 MB).
  double first_bucket_mb = 1.0;
  /// All-reduce each bucket as soon as it is ready during backward; false: all of them in finish().
  bool overlap = true;
};

class GradientReducer {
 public:
  /// Requires: `params` in registration order (module->parameters()), the same on every rank,
  /// each a distinct dense leaf; the ones with requires_grad false are left out. `comm` is kept.
  GradientReducer(std::shared_ptr<Communicator> comm, std::vector<torch::Tensor> params,
                  GradientReducerOptions options = {});
  /// Removes the hooks (pending collectives are not waited for).
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  /// Before backward: this rank's number of samples in the step (>= 0; 0 for an empty slice, in
  /// which case the rank skips forward and backward but still calls finish()).
  void prepare(int64_t local_samples);
  /// After backward: launches the buckets not launched yet (unused gradients as zeros), waits for
  /// all of them and writes grad = sum_r(n_r * grad_r) / global_samples into every parameter's
  /// grad() (0 when global_samples is 0). Throws Error when a peer failed (see Communicator).
  void finish(int64_t global_samples);

  /// Parameter indices (into the reduced parameters, in registration order) of each bucket, in
  /// launch order.
  std::vector<std::vector<std::size_t>> bucket_indices() const;
  int64_t num_buckets() const { return static_cast<int64_t>(buckets_.size()); }

 private:
  struct Bucket {
    std::vector<std::size_t> params;  ///< indices into params_
    torch::Tensor flat;               ///< [numel (+1 sample count in the last bucket)]
    int64_t pending = 0;              ///< gradients not ready yet this step
    bool count_slot = false;          ///< the last element holds n_r (sum: N)
    PendingCollective work;
  };
  struct Slot {
    std::size_t bucket = 0;
    int64_t offset = 0;
    bool ready = false;
  };

  void assign_buckets();
  void register_hooks();
  void on_gradient(std::size_t index);
  void launch_ready_locked();
  void launch_locked(std::size_t b);

  std::shared_ptr<Communicator> comm_;
  std::vector<torch::Tensor> params_;
  GradientReducerOptions options_;
  std::vector<Bucket> buckets_;
  std::vector<Slot> slots_;
  std::vector<std::shared_ptr<torch::autograd::Node>> accumulators_;
  std::vector<uintptr_t> hook_keys_;

  std::mutex mu_;
  bool in_step_ = false;
  int64_t local_samples_ = 0;
  std::size_t next_launch_ = 0;
  int64_t step_ = 0;
};

}  // namespace mmfuse::train
