// Internal to train/: the c10d rendezvous of a Communicator (store, barrier, backend) and the
// flat buffers its collectives travel in. Included by distributed.cpp only.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include <torch/torch.h>
#include <torch/version.h>

#include "mmfuse/train/distributed_options.h"

#if defined(MMFUSE_WITH_GLOO) || defined(MMFUSE_WITH_NCCL)
#define MMFUSE_HAS_C10D 1
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/Store.hpp>
#include <torch/csrc/distributed/c10d/Work.hpp>
#if TORCH_VERSION_MAJOR >= 2
#include <torch/csrc/distributed/c10d/Backend.hpp>
#else
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#endif
#endif

namespace mmfuse::train::detail {

/// "1.5 s".
std::string seconds(std::chrono::milliseconds t);
/// "rank R of W".
std::string where(const DistributedOptions& o);

/// Tensors grouped by (dtype, device), in first-appearance order: one flat buffer per group.
/// Throws UsageError for an undefined or sparse tensor.
std::vector<std::vector<std::size_t>> groups_by_type(const std::vector<torch::Tensor>& tensors);
/// Gloo has no bool reduction or transfer: bools travel as uint8.
torch::Tensor wire_type(const torch::Tensor& t);
/// The group's tensors (in wire type) concatenated into one contiguous 1-D buffer.
torch::Tensor flatten(const std::vector<torch::Tensor>& tensors,
                      const std::vector<std::size_t>& group);
/// Copies `flat` back into the group's tensors (inverse of flatten).
void unflatten_into(std::vector<torch::Tensor>& tensors, const std::vector<std::size_t>& group,
                    const torch::Tensor& flat);

#ifdef MMFUSE_HAS_C10D
#if TORCH_VERSION_MAJOR >= 2
using BackendPtr = c10::intrusive_ptr<c10d::Backend>;
#else
using BackendPtr = c10::intrusive_ptr<c10d::ProcessGroup>;
#endif

/// The message of a c10 error without its backtrace.
std::string reason_of(const std::exception& e);
/// What init_process_group(init_method="env://") builds before the process group: the store of
/// `_create_c10d_store` (rendezvous.py, PyTorch 1.13).
c10::intrusive_ptr<c10d::Store> connect_store(const DistributedOptions& o);
/// distributed_c10d.py `_store_based_barrier`: returns once every rank has joined, or throws Error
/// after o.timeout naming master_addr:master_port.
void store_barrier(c10d::Store& store, const DistributedOptions& o);
/// The process group for `device` (NCCL for CUDA when built with it, else Gloo); `name` is set to
/// the backend's name.
BackendPtr make_backend(const c10::intrusive_ptr<c10d::Store>& store, const DistributedOptions& o,
                        const torch::Device& device, std::string& name);
#endif

}  // namespace mmfuse::train::detail
