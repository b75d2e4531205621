#include "mmfuse/train/c10d_rendezvous.h"

#include <algorithm>
#include <thread>

#include "mmfuse/core/error.h"

#ifdef MMFUSE_HAS_C10D
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif
#ifdef MMFUSE_WITH_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef MMFUSE_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace mmfuse::train::detail {

std::string seconds(std::chrono::milliseconds t) {
  const double s = static_cast<double>(t.count()) / 1000.0;
  std::string out = std::to_string(s);
  out.erase(out.find_last_not_of('0') + 1);
  if (!out.empty() && out.back() == '.') out.pop_back();
  return out + " s";
}

std::string where(const DistributedOptions& o) {
  return "rank " + std::to_string(o.rank) + " of " + std::to_string(o.world_size);
}

/// Tensors grouped by (dtype, device), in first-appearance order: one flat buffer per group.
std::vector<std::vector<std::size_t>> groups_by_type(const std::vector<torch::Tensor>& tensors) {
  std::vector<std::vector<std::size_t>> groups;
  std::vector<std::pair<torch::ScalarType, torch::Device>> keys;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const auto& t = tensors[i];
    if (!t.defined())
      throw UsageError("communicator: tensor " + std::to_string(i) + " is undefined");
    if (t.is_sparse()) throw UsageError("communicator: sparse tensors are not supported");
    std::pair<torch::ScalarType, torch::Device> key{t.scalar_type(), t.device()};
    auto it = std::find(keys.begin(), keys.end(), key);
    if (it == keys.end()) {
      keys.push_back(key);
      groups.emplace_back();
      it = keys.end() - 1;
    }
    groups[static_cast<std::size_t>(it - keys.begin())].push_back(i);
  }
  return groups;
}

/// Gloo has no bool reduction or transfer: bools travel as uint8.
torch::Tensor wire_type(const torch::Tensor& t) {
  return t.scalar_type() == torch::kBool ? t.to(torch::kUInt8) : t;
}

torch::Tensor flatten(const std::vector<torch::Tensor>& tensors,
                      const std::vector<std::size_t>& group) {
  std::vector<torch::Tensor> parts;
  parts.reserve(group.size());
  for (std::size_t i : group) parts.push_back(wire_type(tensors[i]).reshape({-1}));
  return torch::cat(parts).contiguous();
}

void unflatten_into(std::vector<torch::Tensor>& tensors, const std::vector<std::size_t>& group,
                    const torch::Tensor& flat) {
  torch::NoGradGuard no_grad;
  int64_t offset = 0;
  for (std::size_t i : group) {
    auto& t = tensors[i];
    const int64_t n = t.numel();
    t.copy_(flat.narrow(0, offset, n).view(t.sizes()));
    offset += n;
  }
}

#ifdef MMFUSE_HAS_C10D

std::string reason_of(const std::exception& e) {
  if (const auto* c = dynamic_cast<const c10::Error*>(&e)) return c->what_without_backtrace();
  return e.what();
}

/// What init_process_group(init_method="env://") builds before the process group: the store of
/// `_create_c10d_store` (rendezvous.py, PyTorch 1.13).
c10::intrusive_ptr<c10d::Store> connect_store(const DistributedOptions& o) {
  c10d::TCPStoreOptions so;
  so.port = static_cast<std::uint16_t>(o.master_port);
  so.numWorkers = static_cast<std::size_t>(o.world_size);
  so.waitWorkers = true;
  so.timeout = o.timeout;
  if (o.use_agent_store) {
    so.isServer = false;
    auto tcp = c10::make_intrusive<c10d::TCPStore>(o.master_addr, so);
    return c10::make_intrusive<c10d::PrefixStore>(
        "/worker/attempt_" + std::to_string(o.restart_count), tcp);
  }
  so.isServer = o.rank == 0;
  so.multiTenant = true;
  return c10::make_intrusive<c10d::TCPStore>(o.master_addr, so);
}

/// distributed_c10d.py `_store_based_barrier`: returns once every rank has joined.
void store_barrier(c10d::Store& store, const DistributedOptions& o) {
  const std::string key = "store_based_barrier_key:1";
  store.add(key, 1);
  const auto start = std::chrono::steady_clock::now();
  while (store.add(key, 0) < o.world_size) {
    if (std::chrono::steady_clock::now() - start > o.timeout) {
      throw Error(where(o) + ": timed out after " + seconds(o.timeout) +
                  " waiting for the other ranks to join at " + o.master_addr + ":" +
                  std::to_string(o.master_port) + " (" + std::to_string(store.add(key, 0)) +
                  " of " + std::to_string(o.world_size) + " joined)");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

BackendPtr make_backend(const c10::intrusive_ptr<c10d::Store>& store, const DistributedOptions& o,
                        const torch::Device& device, std::string& name) {
  auto prefixed = c10::make_intrusive<c10d::PrefixStore>("0", store);
#ifdef MMFUSE_WITH_NCCL
  if (device.is_cuda()) {
    auto opts = c10d::ProcessGroupNCCL::Options::create();
    opts->timeout = o.timeout;
    name = "nccl";
    return c10::make_intrusive<c10d::ProcessGroupNCCL>(prefixed, o.rank, o.world_size, opts);
  }
#endif
#ifdef MMFUSE_WITH_GLOO
  auto opts = c10d::ProcessGroupGloo::Options::create(o.timeout);
  for (const auto& iface : o.gloo_interfaces) {
    opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(iface));
  }
  if (opts->devices.empty()) {
    opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
  }
  opts->threads = static_cast<int>(opts->devices.size()) * 2;
  name = "gloo";
  return c10::make_intrusive<c10d::ProcessGroupGloo>(prefixed, o.rank, o.world_size, opts);
#else
  throw Error("communicator: this build has no Gloo backend for " + device.str() +
              " tensors (LibTorch without c10d Gloo)");
#endif
}

#endif  // MMFUSE_HAS_C10D

}  // namespace mmfuse::train::detail
