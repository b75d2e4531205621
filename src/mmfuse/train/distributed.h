// Communicator: the collectives of data-parallel training on PyTorch's c10d (the engine of
// PyTorch's own DistributedDataParallel): a TCPStore for the rendezvous and a Gloo process group
// (NCCL for CUDA tensors when LibTorch is built with it).
//
//   auto comm = std::make_shared<Communicator>(DistributedOptions::from_environment());
//   broadcast_state(*comm, *model);               // once, before training: rank 0's weights
//   GradientReducer reducer(comm, model->parameters());   // see gradient_reducer.h
//   ...
//   auto outputs = comm->all_gather_cat(local_outputs);   // sharded evaluation, in rank order
//
// Rendezvous: the same as torch.distributed.init_process_group("gloo", init_method="env://") in
// PyTorch 1.13 (rendezvous.py `_env_rendezvous_handler` and `_create_c10d_store`,
// distributed_c10d.py `init_process_group`):
//  - use_agent_store false (torchrun --rdzv_backend=c10d / --standalone, or a hand-made launch):
//    rank 0 hosts a multi-tenant TCPStore on master_port, every other rank connects to
//    master_addr:master_port as a client;
//  - use_agent_store true (torchrun's default static rendezvous): torchrun's agent already hosts
//    the store there; every rank, rank 0 too, connects as a client, under the key prefix
//    /worker/attempt_<restart_count>;
//  - then the keys under "default_pg", the process group under "default_pg/0", a store-based
//    barrier on "store_based_barrier_key:1" so that construction returns once every rank joined,
//    and the group's sequence number published by rank 0. A rank of PyTorch itself (Python,
//    init_process_group("gloo")) can therefore join the same job (tests/train checks it).
// Every wait (connecting, joining, each collective) gives up after options.timeout and throws
// Error instead of hanging; a collective that fails because a peer died (connection closed,
// timeout) throws Error naming the collective.
//
// All ranks must call the same collectives in the same order with tensors of the same dtypes and
// (except all_gather_cat's first dimension) the same shapes.
// world_size 1: no store, no sockets; every collective returns at once and leaves its input as is.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "mmfuse/train/distributed_options.h"

namespace mmfuse::train {

/// An asynchronous collective in flight (what GradientReducer overlaps with backward).
class PendingCollective {
 public:
  PendingCollective();
  ~PendingCollective();
  PendingCollective(PendingCollective&&) noexcept;
  PendingCollective& operator=(PendingCollective&&) noexcept;

  /// Blocks until the collective is done; a failure throws Error as the blocking collectives do.
  /// Does nothing for an empty handle (world_size 1) or when already waited for.
  void wait();
  bool pending() const;

 private:
  friend class Communicator;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class Communicator {
 public:
  /// Joins the job described by `options` (blocks until every rank joined, or throws Error after
  /// options.timeout naming master_addr:master_port, the rank and the timeout). `device`: where
  /// the tensors live; CUDA selects NCCL when LibTorch has it (else Gloo), CPU selects Gloo.
  /// Throws UsageError for invalid options; Error when world_size > 1 and this build of mmfuse
  /// has no c10d backend.
  explicit Communicator(DistributedOptions options, torch::Device device = torch::kCPU);
  ~Communicator();
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  int rank() const { return options_.rank; }
  int world_size() const { return options_.world_size; }
  /// Rank 0: the process that logs, writes checkpoints and reports.
  bool is_main() const { return options_.rank == 0; }
  const DistributedOptions& options() const { return options_; }
  /// "gloo", "nccl", or "none" (world_size 1).
  std::string backend_name() const;

  /// Overwrites every tensor with rank `root`'s, in place (dense tensors of any dtype; leaf
  /// parameters are written under NoGradGuard). Requires: the same list (dtypes, shapes) on all
  /// ranks.
  void broadcast(std::vector<torch::Tensor>& tensors, int root = 0);
  /// Replaces every tensor with the sum over ranks, in place.
  void allreduce_sum(std::vector<torch::Tensor>& tensors);
  /// The sum of `value` over ranks (in double precision).
  double allreduce_sum(double value);
  /// The ranks' `local` tensors concatenated along dim 0 in rank order. The first dimension may
  /// differ per rank (0 included); the others and the dtype must agree (else Error).
  torch::Tensor all_gather_cat(const torch::Tensor& local);
  /// Returns once every rank has called it.
  void barrier();

  /// Starts an in-place sum over ranks of one contiguous dense tensor and returns at once; the
  /// tensor must stay alive and untouched until wait(). Collectives are matched across ranks by
  /// the order they are started in.
  PendingCollective allreduce_sum_async(const torch::Tensor& flat, const std::string& what);

 private:
  struct Impl;
  DistributedOptions options_;
  torch::Device device_;
  std::unique_ptr<Impl> impl_;
};

/// Broadcasts `module`'s parameters and buffers (BatchNorm running statistics included) from
/// rank 0, so every rank starts from rank 0's weights whatever its seed.
void broadcast_state(Communicator& comm, torch::nn::Module& module);

}  // namespace mmfuse::train
