#include "mmfuse/train/distributed.h"

#include <torch/version.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "mmfuse/core/error.h"
#include "mmfuse/train/c10d_rendezvous.h"

namespace mmfuse::train {

#ifdef MMFUSE_HAS_C10D
namespace {

/// The failure of a collective, as the message of an Error.
std::string collective_failure(const std::string& what, int rank, int world,
                               std::chrono::milliseconds timeout, const std::string& reason) {
  return what + " failed on rank " + std::to_string(rank) + " of " + std::to_string(world) + ": " +
         reason + " (a peer process probably exited: crashed, was killed or ran out of " +
         "memory, or it did not reach the same collective within the timeout of " +
         detail::seconds(timeout) + "; see the other ranks' logs)";
}

}  // namespace

struct PendingCollective::Impl {
  c10::intrusive_ptr<c10d::Work> work;
  torch::Tensor tensor;  ///< kept alive until the collective is done
  std::string what;
  int rank = 0, world = 1;
  std::chrono::milliseconds timeout{0};
};

void PendingCollective::wait() {
  if (!impl_ || !impl_->work) return;
  auto work = std::move(impl_->work);  // waited for once, even if it fails
  try {
    work->wait();
  } catch (const std::exception& e) {
    throw Error(collective_failure(impl_->what, impl_->rank, impl_->world, impl_->timeout,
                                   detail::reason_of(e)));
  }
  impl_->tensor = torch::Tensor();
}

bool PendingCollective::pending() const {
  return impl_ && impl_->work;
}

struct Communicator::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  detail::BackendPtr backend;
  std::string name = "none";

  /// Runs `start` (which launches one collective) and waits for it, turning failures into Error.
  template <typename Start>
  void run(const DistributedOptions& o, const std::string& what, Start&& start) {
    try {
      c10::intrusive_ptr<c10d::Work> work = start();
      work->wait();
    } catch (const Error&) {
      throw;
    } catch (const std::exception& e) {
      throw Error(collective_failure(what, o.rank, o.world_size, o.timeout, detail::reason_of(e)));
    }
  }
};

Communicator::Communicator(DistributedOptions options, torch::Device device)
    : options_(std::move(options)), device_(device), impl_(std::make_unique<Impl>()) {
  options_.validate();
  if (!options_.distributed()) return;
  const auto& o = options_;
  const std::string address = o.master_addr + ":" + std::to_string(o.master_port);
  try {
    impl_->store = detail::connect_store(o);
  } catch (const std::exception& e) {
    const bool hosts = o.rank == 0 && !o.use_agent_store;
    throw Error(detail::where(o) + ": could not " + (hosts ? "host or reach" : "reach") +
                " the rendezvous store at " + address +
                " (MASTER_ADDR:MASTER_PORT) within the timeout of " + detail::seconds(o.timeout) +
                ": " + detail::reason_of(e) + " (is rank 0" +
                (o.use_agent_store ? " or torchrun's agent" : "") +
                " running, and do all ranks use the same MASTER_ADDR and MASTER_PORT?)");
  }
  impl_->store->setTimeout(o.timeout);
  auto pg_store = c10::make_intrusive<c10d::PrefixStore>("default_pg", impl_->store);
  try {
    impl_->backend = detail::make_backend(pg_store, o, device_, impl_->name);
    detail::store_barrier(*pg_store, o);
    // As init_process_group does: rank 0 publishes the group's sequence number, the others read
    // it (a Python rank waits for it).
    impl_->backend->setSequenceNumberForGroup();
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Error(detail::where(o) + ": could not set up the process group through " + address +
                " within the timeout of " + detail::seconds(o.timeout) + ": " +
                detail::reason_of(e) + " (did every rank start, with the same WORLD_SIZE?)");
  }
}

Communicator::~Communicator() = default;

std::string Communicator::backend_name() const {
  return impl_->name;
}

void Communicator::broadcast(std::vector<torch::Tensor>& tensors, int root) {
  if (!options_.distributed() || tensors.empty()) return;
  if (root < 0 || root >= world_size()) {
    throw UsageError("broadcast: root must be in [0, " + std::to_string(world_size()) + "), got " +
                     std::to_string(root));
  }
  for (const auto& group : detail::groups_by_type(tensors)) {
    torch::Tensor flat = detail::flatten(tensors, group);
    impl_->run(options_, "broadcast", [&] {
      std::vector<at::Tensor> v{flat};
      c10d::BroadcastOptions bo;
      bo.rootRank = root;
      return impl_->backend->broadcast(v, bo);
    });
    detail::unflatten_into(tensors, group, flat);
  }
}

void Communicator::allreduce_sum(std::vector<torch::Tensor>& tensors) {
  if (!options_.distributed() || tensors.empty()) return;
  for (const auto& group : detail::groups_by_type(tensors)) {
    torch::Tensor flat = detail::flatten(tensors, group);
    impl_->run(options_, "allreduce", [&] {
      std::vector<at::Tensor> v{flat};
      return impl_->backend->allreduce(v);
    });
    detail::unflatten_into(tensors, group, flat);
  }
}

double Communicator::allreduce_sum(double value) {
  if (!options_.distributed()) return value;
  std::vector<torch::Tensor> v{
      torch::full({1}, value, torch::dtype(torch::kDouble).device(device_))};
  allreduce_sum(v);
  return v[0].item<double>();
}

torch::Tensor Communicator::all_gather_cat(const torch::Tensor& local) {
  if (!options_.distributed()) return local;
  constexpr int64_t kMaxDims = 8;
  if (!local.defined() || local.dim() < 1 || local.dim() > kMaxDims) {
    throw UsageError("all_gather_cat: expected a tensor with 1 to " + std::to_string(kMaxDims) +
                     " dimensions, got " +
                     (local.defined() ? std::to_string(local.dim()) : "none"));
  }
  // 1. Every rank's shape and dtype: [rows, dims, size 1..kMaxDims-1 (0 beyond), dtype].
  auto header = torch::zeros({kMaxDims + 2}, torch::kLong);
  header[0] = local.size(0);
  header[1] = local.dim();
  for (int64_t d = 1; d < local.dim(); ++d) header[d + 1] = local.size(d);
  header[kMaxDims + 1] = static_cast<int64_t>(local.scalar_type());
  header = header.to(device_);
  const auto w = static_cast<std::size_t>(world_size());
  std::vector<std::vector<at::Tensor>> headers(1);
  for (std::size_t r = 0; r < w; ++r) headers[0].push_back(torch::empty_like(header));
  impl_->run(options_, "all_gather_cat (shapes)", [&] {
    std::vector<at::Tensor> in{header};
    return impl_->backend->allgather(headers, in);
  });
  std::vector<int64_t> rows(w);
  int64_t max_rows = 0;
  const auto mine = header.cpu();
  for (std::size_t r = 0; r < w; ++r) {
    const auto h = headers[0][r].cpu();
    if (!torch::equal(h.narrow(0, 1, kMaxDims + 1), mine.narrow(0, 1, kMaxDims + 1))) {
      throw Error("all_gather_cat: rank " + std::to_string(r) + " sent a tensor of another dtype " +
                  "or trailing shape than rank " + std::to_string(rank()) + "'s " +
                  std::string(c10::toString(local.scalar_type())) + " " + c10::str(local.sizes()) +
                  " (only the first dimension may differ)");
    }
    rows[r] = h[0].item<int64_t>();
    max_rows = std::max(max_rows, rows[r]);
  }
  // 2. The rows, padded to the longest rank's, then trimmed.
  auto sizes = local.sizes().vec();
  sizes[0] = max_rows;
  const torch::Tensor wire = detail::wire_type(local).to(device_).contiguous();
  torch::Tensor padded = torch::zeros(sizes, wire.options());
  padded.narrow(0, 0, local.size(0)).copy_(wire);
  std::vector<std::vector<at::Tensor>> parts(1);
  for (std::size_t r = 0; r < w; ++r) parts[0].push_back(torch::empty_like(padded));
  impl_->run(options_, "all_gather_cat", [&] {
    std::vector<at::Tensor> in{padded};
    return impl_->backend->allgather(parts, in);
  });
  std::vector<torch::Tensor> kept;
  for (std::size_t r = 0; r < w; ++r) kept.push_back(parts[0][r].narrow(0, 0, rows[r]));
  return torch::cat(kept).to(local.scalar_type()).to(local.device());
}

void Communicator::barrier() {
  if (!options_.distributed()) return;
  impl_->run(options_, "barrier", [&] { return impl_->backend->barrier(); });
}

PendingCollective Communicator::allreduce_sum_async(const torch::Tensor& flat,
                                                    const std::string& what) {
  PendingCollective out;
  if (!options_.distributed()) return out;
  out.impl_ = std::make_unique<PendingCollective::Impl>();
  auto& p = *out.impl_;
  p.tensor = flat;
  p.what = what;
  p.rank = rank();
  p.world = world_size();
  p.timeout = options_.timeout;
  try {
    std::vector<at::Tensor> v{flat};
    p.work = impl_->backend->allreduce(v);
  } catch (const std::exception& e) {
    throw Error(collective_failure(what, p.rank, p.world, p.timeout, detail::reason_of(e)));
  }
  return out;
}

#else  // no c10d backend in this LibTorch

struct PendingCollective::Impl {};
void PendingCollective::wait() {}
bool PendingCollective::pending() const {
  return false;
}

struct Communicator::Impl {};

Communicator::Communicator(DistributedOptions options, torch::Device device)
    : options_(std::move(options)), device_(device), impl_(std::make_unique<Impl>()) {
  options_.validate();
  if (options_.distributed()) {
    throw Error("communicator: world_size is " + std::to_string(options_.world_size) +
                " but this build has no c10d backend (LibTorch without Gloo or NCCL); run a " +
                "single process");
  }
}
Communicator::~Communicator() = default;
std::string Communicator::backend_name() const {
  return "none";
}
void Communicator::broadcast(std::vector<torch::Tensor>&, int) {}
void Communicator::allreduce_sum(std::vector<torch::Tensor>&) {}
double Communicator::allreduce_sum(double value) {
  return value;
}
torch::Tensor Communicator::all_gather_cat(const torch::Tensor& local) {
  return local;
}
void Communicator::barrier() {}
PendingCollective Communicator::allreduce_sum_async(const torch::Tensor&, const std::string&) {
  return {};
}

#endif

PendingCollective::PendingCollective() = default;
PendingCollective::~PendingCollective() = default;
PendingCollective::PendingCollective(PendingCollective&&) noexcept = default;
PendingCollective& PendingCollective::operator=(PendingCollective&&) noexcept = default;

void broadcast_state(Communicator& comm, torch::nn::Module& module) {
  if (comm.world_size() == 1) return;
  std::vector<torch::Tensor> tensors = module.parameters();
  for (auto& b : module.buffers()) tensors.push_back(b);
  comm.broadcast(tensors, 0);
}

}  // namespace mmfuse::train
