#include "mmfuse/train/gradient_reducer.h"

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/utils/lambda_post_hook.h>
#include <torch/csrc/autograd/variable.h>

#include <algorithm>
#include <cmath>
#include <set>
#include <utility>

#include "mmfuse/core/error.h"

namespace mmfuse::train {
namespace {

constexpr double kMiB = 1024.0 * 1024.0;

int64_t bytes_of(const torch::Tensor& t) {
  return t.numel() * static_cast<int64_t>(t.element_size());
}

}  // namespace

GradientReducer::GradientReducer(std::shared_ptr<Communicator> comm,
                                 std::vector<torch::Tensor> params, GradientReducerOptions options)
    : comm_(std::move(comm)), options_(options) {
  if (!comm_) throw UsageError("gradient reducer: the communicator is null");
  if (!(options_.bucket_mb > 0) || !(options_.first_bucket_mb > 0)) {
    throw UsageError("gradient reducer: bucket_mb and first_bucket_mb must be > 0, got " +
                     std::to_string(options_.bucket_mb) + " and " +
                     std::to_string(options_.first_bucket_mb));
  }
  std::set<const void*> seen;
  for (std::size_t i = 0; i < params.size(); ++i) {
    auto& p = params[i];
    if (!p.defined() || !p.requires_grad()) continue;
    if (!p.is_leaf() || p.is_sparse()) {
      throw UsageError("gradient reducer: parameter " + std::to_string(i) +
                       " must be a dense leaf tensor (a module parameter), got " +
                       (p.is_sparse() ? "a sparse tensor" : "the result of an operation"));
    }
    if (!seen.insert(p.unsafeGetTensorImpl()).second) {
      throw UsageError("gradient reducer: parameter " + std::to_string(i) +
                       " is listed twice (shared weights must appear once)");
    }
    params_.push_back(p);
  }
  if (comm_->world_size() == 1 || params_.empty()) return;
  assign_buckets();
  register_hooks();
}

GradientReducer::~GradientReducer() {
  for (std::size_t i = 0; i < accumulators_.size(); ++i) {
    accumulators_[i]->del_post_hook(hook_keys_[i]);
  }
}

void GradientReducer::assign_buckets() {
  // c10d's compute_bucket_assignment_by_size: walk the parameters backwards, one open bucket per
  // (dtype, device); close it once it holds at least its limit (the first limit is smaller).
  struct Open {
    std::vector<std::size_t> params;
    int64_t bytes = 0;
    bool first = true;
  };
  std::vector<std::pair<std::pair<torch::ScalarType, torch::Device>, Open>> open;
  std::vector<std::vector<std::size_t>> closed;
  for (std::size_t k = params_.size(); k-- > 0;) {
    const auto& p = params_[k];
    const std::pair<torch::ScalarType, torch::Device> key{p.scalar_type(), p.device()};
    auto it = std::find_if(open.begin(), open.end(), [&](const auto& o) { return o.first == key; });
    if (it == open.end()) it = open.insert(open.end(), {key, Open{}});
    Open& o = it->second;
    o.params.push_back(k);
    o.bytes += bytes_of(p);
    const double limit = (o.first ? options_.first_bucket_mb : options_.bucket_mb) * kMiB;
    if (static_cast<double>(o.bytes) >= limit) {
      closed.push_back(std::move(o.params));
      o.params.clear();
      o.bytes = 0;
      o.first = false;
    }
  }
  for (auto& [key, o] : open) {
    if (!o.params.empty()) closed.push_back(std::move(o.params));
  }
  // Launch order: by the first gradient each bucket expects (the highest parameter index).
  std::sort(closed.begin(), closed.end(),
            [](const auto& a, const auto& b) { return a.front() > b.front(); });

  slots_.assign(params_.size(), Slot{});
  buckets_.resize(closed.size());
  for (std::size_t b = 0; b < closed.size(); ++b) {
    Bucket& bucket = buckets_[b];
    bucket.params = closed[b];
    int64_t numel = 0;
    for (std::size_t i : bucket.params) {
      slots_[i] = Slot{b, numel, false};
      numel += params_[i].numel();
    }
    const auto& first = params_[bucket.params.front()];
    const auto type = first.scalar_type();
    bucket.count_slot = b + 1 == closed.size() && (type == torch::kFloat || type == torch::kDouble);
    bucket.flat = torch::zeros({numel + (bucket.count_slot ? 1 : 0)},
                               torch::dtype(type).device(first.device()));
  }
}

void GradientReducer::register_hooks() {
  using torch::autograd::variable_list;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    auto acc = torch::autograd::impl::grad_accumulator(params_[i]);
    if (!acc) {
      throw UsageError("gradient reducer: parameter " + std::to_string(i) +
                       " has no gradient accumulator (not a leaf requiring grad)");
    }
    hook_keys_.push_back(
        acc->add_post_hook(std::make_unique<torch::autograd::utils::LambdaPostHook>(
            [this, i](const variable_list& outputs, const variable_list&) {
              on_gradient(i);
              return outputs;
            })));
    accumulators_.push_back(std::move(acc));
  }
}

std::vector<std::vector<std::size_t>> GradientReducer::bucket_indices() const {
  std::vector<std::vector<std::size_t>> out;
  for (const auto& b : buckets_) out.push_back(b.params);
  return out;
}

void GradientReducer::prepare(int64_t local_samples) {
  if (local_samples < 0) {
    throw UsageError("gradient reducer: local_samples must be >= 0, got " +
                     std::to_string(local_samples));
  }
  if (buckets_.empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (in_step_) throw UsageError("gradient reducer: prepare() called again before finish()");
  local_samples_ = local_samples;
  for (auto& s : slots_) s.ready = false;
  for (auto& b : buckets_) {
    b.pending = static_cast<int64_t>(b.params.size());
    if (b.count_slot) b.flat[-1].fill_(static_cast<double>(local_samples));
  }
  next_launch_ = 0;
  in_step_ = true;
}

void GradientReducer::on_gradient(std::size_t index) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!in_step_) return;  // backward outside prepare()/finish(): not reduced
  Slot& slot = slots_[index];
  const auto& param = params_[index];
  if (slot.ready) {
    throw Error("gradient reducer: the gradient of parameter " + std::to_string(index) + " " +
                c10::str(param.sizes()) +
                " was produced twice in one step (call backward once between prepare() and "
                "finish())");
  }
  Bucket& bucket = buckets_[slot.bucket];
  auto view = bucket.flat.narrow(0, slot.offset, param.numel()).view(param.sizes());
  const torch::Tensor& grad = param.grad();
  if (!grad.defined()) {
    view.zero_();
  } else {
    if (grad.is_sparse()) throw Error("gradient reducer: sparse gradients are not supported");
    torch::mul_out(view, grad, torch::scalar_tensor(static_cast<double>(local_samples_)));
  }
  slot.ready = true;
  if (--bucket.pending == 0 && options_.overlap) launch_ready_locked();
}

void GradientReducer::launch_ready_locked() {
  while (next_launch_ < buckets_.size() && buckets_[next_launch_].pending == 0) {
    launch_locked(next_launch_++);
  }
}

void GradientReducer::launch_locked(std::size_t b) {
  buckets_[b].work = comm_->allreduce_sum_async(
      buckets_[b].flat, "gradient allreduce (bucket " + std::to_string(b + 1) + " of " +
                            std::to_string(buckets_.size()) + ", step " +
                            std::to_string(step_ + 1) + ")");
}

void GradientReducer::finish(int64_t global_samples) {
  if (global_samples < 0) {
    throw UsageError("gradient reducer: global_samples must be >= 0, got " +
                     std::to_string(global_samples));
  }
  if (buckets_.empty()) return;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!in_step_) throw UsageError("gradient reducer: finish() without prepare()");
    in_step_ = false;
    // Buckets whose gradients did not all come: the missing ones are zeros. In index order, so
    // every rank launches the same sequence of collectives.
    for (std::size_t b = next_launch_; b < buckets_.size(); ++b) {
      Bucket& bucket = buckets_[b];
      for (std::size_t i : bucket.params) {
        Slot& slot = slots_[i];
        if (slot.ready) continue;
        bucket.flat.narrow(0, slot.offset, params_[i].numel()).zero_();
        slot.ready = true;
      }
      bucket.pending = 0;
      launch_locked(b);
    }
    next_launch_ = buckets_.size();
  }
  ++step_;
  for (auto& bucket : buckets_) bucket.work.wait();

  const auto& last = buckets_.back();
  if (last.count_slot) {
    const auto counted = static_cast<int64_t>(std::llround(last.flat[-1].item<double>()));
    if (counted != global_samples) {
      throw Error("gradient reducer: finish(" + std::to_string(global_samples) +
                  ") but the ranks' prepare() sample counts add up to " + std::to_string(counted) +
                  " (pass the number of samples of the whole global batch)");
    }
  }
  torch::NoGradGuard no_grad;
  for (auto& bucket : buckets_) {
    if (global_samples > 0) bucket.flat.div_(static_cast<double>(global_samples));
    for (std::size_t i : bucket.params) {
      auto& param = params_[i];
      auto view = bucket.flat.narrow(0, slots_[i].offset, param.numel()).view(param.sizes());
      torch::Tensor& grad = param.mutable_grad();
      if (!grad.defined()) grad = torch::empty_like(param, torch::MemoryFormat::Preserve);
      if (global_samples > 0) {
        grad.copy_(view);
      } else {
        grad.zero_();
      }
    }
  }
}

}  // namespace mmfuse::train
