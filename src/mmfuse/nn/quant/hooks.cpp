#include "mmfuse/nn/quant/hooks.h"

#include <atomic>
#include <shared_mutex>
#include <unordered_map>

#include "mmfuse/core/error.h"

namespace mmfuse::nn::quant {

namespace {

// The process-wide table: weight address -> layer. `g_hooked_count` lets a forward without any
// hooked layer skip the lock.
std::shared_mutex g_hooks_mutex;
std::unordered_map<const void*, HookedLayer> g_hooks;
std::atomic<int64_t> g_hooked_count{0};

bool find_hooked(const void* key, HookedLayer& out) {
  if (g_hooked_count.load(std::memory_order_acquire) == 0) return false;
  std::shared_lock<std::shared_mutex> lock(g_hooks_mutex);
  auto it = g_hooks.find(key);
  if (it == g_hooks.end()) return false;
  out = it->second;
  return true;
}

// Records the range of `x` and a strided sample of its values (bounded).
void observe_input(LayerObservation& o, const torch::Tensor& x) {
  static std::mutex observe_mutex;  // calibration is single-threaded; this only keeps it safe
  auto flat = x.detach().to(torch::kFloat).reshape({-1});
  if (flat.numel() == 0) return;
  auto mm = torch::aminmax(flat);
  std::lock_guard<std::mutex> lock(observe_mutex);
  o.min = std::min(o.min, std::get<0>(mm).item<float>());
  o.max = std::max(o.max, std::get<1>(mm).item<float>());
  ++o.calls;
  if (o.sample.size() < kObservationSample) {
    const int64_t step = std::max<int64_t>(1, flat.numel() / 4096);
    auto picked = flat.slice(0, 0, flat.numel(), step).contiguous();
    const float* p = picked.data_ptr<float>();
    o.sample.insert(o.sample.end(), p, p + picked.numel());
  }
}

// aten::mm / aten::addmm hook: `b` [K, N] is a registered Linear weight [N, K] transposed.
torch::Tensor linear_gemm_hook(const torch::Tensor& a, const torch::Tensor& b,
                               const torch::Tensor& bias) {
  HookedLayer layer;
  if (!find_hooked(b.data_ptr(), layer)) return {};
  const auto& w = layer.weight;
  if (b.size(0) != w.size(1) || b.size(1) != w.size(0) || b.stride(0) != 1 ||
      b.stride(1) != w.size(1) || w.dim() != 2) {
    return {};  // the same storage used another way: not this layer's product
  }
  if (layer.observe) {
    observe_input(*layer.observe, a);
    return {};
  }
  if (layer.linear) return layer.linear->forward(a, bias);
  return {};
}

}  // namespace

LayerHooks::LayerHooks() : gemm_(acquire_dnnl_gemm()) {
  set_gemm_hook(&linear_gemm_hook);
}

LayerHooks::~LayerHooks() {
  std::unique_lock<std::shared_mutex> lock(g_hooks_mutex);
  for (const auto& l : layers_) {
    auto it = g_hooks.find(l.weight.data_ptr());
    if (it != g_hooks.end() && it->second.weight.is_same(l.weight)) {
      g_hooks.erase(it);
      g_hooked_count.fetch_sub(1, std::memory_order_release);
    }
  }
}

void LayerHooks::add(HookedLayer layer) {
  TORCH_CHECK(layer.weight.defined(), "a hooked layer needs its weight");
  std::unique_lock<std::shared_mutex> lock(g_hooks_mutex);
  const void* key = layer.weight.data_ptr();
  if (g_hooks.count(key)) {
    throw Error("layer " + layer.name + " is already quantized or being calibrated in this " +
                "process (" + g_hooks[key].name + "); release the other owner first");
  }
  g_hooks.emplace(key, layer);
  g_hooked_count.fetch_add(1, std::memory_order_release);
  layers_.push_back(std::move(layer));
}

const HookedLayer* LayerHooks::find(const torch::Tensor& weight) const {
  for (const auto& l : layers_) {
    if (weight.defined() && l.weight.data_ptr() == weight.data_ptr()) return &l;
  }
  return nullptr;
}

torch::Tensor conv_bn_hook(const torch::Tensor& input, torch::nn::Conv2dImpl& conv,
                           torch::nn::BatchNorm2dImpl& bn) {
  HookedLayer layer;
  if (!find_hooked(conv.weight.data_ptr(), layer)) return {};
  if (layer.observe) {
    observe_input(*layer.observe, input);
    layer.observe->bn = &bn;
    return {};
  }
  if (layer.conv) return layer.conv->forward(input);
  return {};
}

}  // namespace mmfuse::nn::quant
