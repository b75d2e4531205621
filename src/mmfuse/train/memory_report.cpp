#include "mmfuse/train/memory_report.h"

namespace mmfuse::train {

namespace {

int64_t storage_bytes_of(const torch::Tensor& t) {
  return t.defined() ? static_cast<int64_t>(t.storage().nbytes()) : 0;
}

}  // namespace

int64_t optimizer_state_bytes(const torch::optim::Optimizer& optimizer) {
  int64_t n = 0;
  for (const auto& [key, state] : optimizer.state()) {
    const auto* s = state.get();
    if (const auto* sgd = dynamic_cast<const torch::optim::SGDParamState*>(s)) {
      n += storage_bytes_of(sgd->momentum_buffer());
    } else if (const auto* adam = dynamic_cast<const torch::optim::AdamParamState*>(s)) {
      n += storage_bytes_of(adam->exp_avg()) + storage_bytes_of(adam->exp_avg_sq()) +
           storage_bytes_of(adam->max_exp_avg_sq());
    } else if (const auto* adamw = dynamic_cast<const torch::optim::AdamWParamState*>(s)) {
      n += storage_bytes_of(adamw->exp_avg()) + storage_bytes_of(adamw->exp_avg_sq()) +
           storage_bytes_of(adamw->max_exp_avg_sq());
    } else if (const auto* rms = dynamic_cast<const torch::optim::RMSpropParamState*>(s)) {
      n += storage_bytes_of(rms->square_avg()) + storage_bytes_of(rms->momentum_buffer()) +
           storage_bytes_of(rms->grad_avg());
    }
  }
  return n;
}

int64_t parameter_bytes(const torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters()) n += static_cast<int64_t>(p.nbytes());
  for (const auto& b : module.buffers()) n += static_cast<int64_t>(b.nbytes());
  return n;
}

int64_t gradient_bytes(const torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters()) n += storage_bytes_of(p.grad());
  return n;
}

MemoryReport training_memory(const torch::nn::Module& module,
                             const torch::optim::Optimizer& optimizer, const data::Dataset& dataset,
                             int64_t loader_queue_peak_bytes, const MemoryBudget& budget) {
  MemoryReport r = MemoryReport::measure(budget);
  r.add("parameters", parameter_bytes(module));
  r.add("gradients", gradient_bytes(module));
  r.add("optimizer_state", optimizer_state_bytes(optimizer));
  r.add("feature_cache", dataset.cache().stats().ram_bytes);
  r.add("loader_queue_peak", loader_queue_peak_bytes);
  return r;
}

}  // namespace mmfuse::train
