#include "mmfuse/train/fused_sgd.h"

#include <atomic>
#include <cmath>
#include <string>

namespace mmfuse::train {

namespace {

using torch::optim::SGDOptions;
using torch::optim::SGDParamState;

// The factors as LibTorch applies them to a float32 tensor (its Scalars become float).
struct Factors {
  float weight_decay, momentum, one_minus_dampening, minus_lr;
  bool nesterov, first;  // first: the momentum buffer starts as this step's update
};

// value, gradient and momentum buffer of n floats, updated in place:
//   d = g + wd * p;  b = first ? d : b * m + (1 - dampening) * d;  d = nesterov ? d + m * b : b;
//   p = p - lr * d
// `a + s * b` is one fused multiply-add, as in LibTorch's add kernel. One loop per case, so that
// each vectorises (no branch inside).
template <bool kDecay, bool kMomentum, bool kFirst, bool kNesterov>
__attribute__((always_inline)) inline void loop(float* __restrict p, const float* __restrict g,
                                                float* __restrict b, int64_t n, const Factors& f) {
  for (int64_t i = 0; i < n; ++i) {
    float d = kDecay ? std::fma(p[i], f.weight_decay, g[i]) : g[i];
    if constexpr (kMomentum) {
      const float buf = kFirst ? d : std::fma(d, f.one_minus_dampening, b[i] * f.momentum);
      b[i] = buf;
      d = kNesterov ? std::fma(buf, f.momentum, d) : buf;
    }
    p[i] = std::fma(d, f.minus_lr, p[i]);
  }
}

// The loop compiled for the CPU's vector instructions: with FMA, std::fma is one instruction (a
// library call per element otherwise, 6x slower than LibTorch's four passes).
template <bool... kCase>
__attribute__((target("avx512f,avx512vl,fma"))) void loop_avx512(float* p, const float* g, float* b,
                                                                 int64_t n, const Factors& f) {
  loop<kCase...>(p, g, b, n, f);
}
template <bool... kCase>
__attribute__((target("avx2,fma"))) void loop_avx2(float* p, const float* g, float* b, int64_t n,
                                                   const Factors& f) {
  loop<kCase...>(p, g, b, n, f);
}

// The best loop this CPU runs, unless a test chose another (set_fused_sgd_loop).
std::atomic<FusedSgdLoop> g_forced{FusedSgdLoop::automatic};
FusedSgdLoop best_loop() {
  static const FusedSgdLoop best = [] {
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("fma")) return FusedSgdLoop::plain;
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl")) {
      return FusedSgdLoop::avx512;
    }
    return __builtin_cpu_supports("avx2") ? FusedSgdLoop::avx2 : FusedSgdLoop::plain;
  }();
  return best;
}
FusedSgdLoop cpu_loop() {
  const FusedSgdLoop forced = g_forced.load(std::memory_order_relaxed);
  return forced == FusedSgdLoop::automatic ? best_loop() : forced;
}

template <bool... kCase>
void loop_on_cpu(float* p, const float* g, float* b, int64_t n, const Factors& f) {
  switch (cpu_loop()) {
    case FusedSgdLoop::avx512:
      return loop_avx512<kCase...>(p, g, b, n, f);
    case FusedSgdLoop::avx2:
      return loop_avx2<kCase...>(p, g, b, n, f);
    case FusedSgdLoop::plain:
    case FusedSgdLoop::automatic:
      return loop<kCase...>(p, g, b, n, f);
  }
}

template <bool kDecay>
void update_with(float* p, const float* g, float* b, int64_t n, const Factors& f) {
  if (b == nullptr) return loop_on_cpu<kDecay, false, false, false>(p, g, b, n, f);
  if (f.first) {
    return f.nesterov ? loop_on_cpu<kDecay, true, true, true>(p, g, b, n, f)
                      : loop_on_cpu<kDecay, true, true, false>(p, g, b, n, f);
  }
  return f.nesterov ? loop_on_cpu<kDecay, true, false, true>(p, g, b, n, f)
                    : loop_on_cpu<kDecay, true, false, false>(p, g, b, n, f);
}

// b: the momentum buffer, null without momentum.
void update(float* p, const float* g, float* b, int64_t n, const Factors& f) {
  if (f.weight_decay != 0) return update_with<true>(p, g, b, n, f);
  update_with<false>(p, g, b, n, f);
}

bool fusable(const torch::Tensor& t, const torch::Tensor& like) {
  return t.defined() && t.device().is_cpu() && t.layout() == torch::kStrided &&
         t.scalar_type() == torch::kFloat && t.is_contiguous() && t.sizes() == like.sizes();
}

// LibTorch's own update of one parameter (torch::optim::SGD::step's loop body).
void libtorch_update(const torch::Tensor& p, const SGDOptions& o, torch::Tensor* buffer) {
  auto d_p = p.grad();
  if (o.weight_decay() != 0) d_p = d_p.add(p, o.weight_decay());
  if (o.momentum() != 0) {
    if (!buffer->defined()) {
      *buffer = torch::clone(d_p).detach();
    } else {
      buffer->mul_(o.momentum()).add_(d_p, 1 - o.dampening());
    }
    d_p = o.nesterov() ? d_p.add(*buffer, o.momentum()) : *buffer;
  }
  p.add_(d_p, -1 * o.lr());
}

}  // namespace

std::vector<FusedSgdLoop> fused_sgd_loops() {
  std::vector<FusedSgdLoop> out{FusedSgdLoop::plain};
  const FusedSgdLoop best = best_loop();
  if (best == FusedSgdLoop::avx2 || best == FusedSgdLoop::avx512) out.push_back(FusedSgdLoop::avx2);
  if (best == FusedSgdLoop::avx512) out.push_back(FusedSgdLoop::avx512);
  return out;
}

void set_fused_sgd_loop(FusedSgdLoop loop) {
  g_forced.store(loop);
}

torch::Tensor FusedSGD::step(LossClosure closure) {
  torch::NoGradGuard no_grad;
  torch::Tensor loss;
  if (closure) {
    at::AutoGradMode enable_grad(true);
    loss = closure();
  }
  for (auto& group : param_groups_) {
    const auto& o = static_cast<const SGDOptions&>(group.options());
    for (auto& p : group.params()) {
      if (!p.grad().defined()) continue;
      const std::string key = c10::guts::to_string(p.unsafeGetTensorImpl());
      auto state = state_.find(key);
      torch::Tensor buffer;
      if (state != state_.end()) {
        buffer = static_cast<SGDParamState&>(*state->second).momentum_buffer();
      }
      const bool first = o.momentum() != 0 && !buffer.defined();
      const torch::Tensor& g = p.grad();
      if (fusable(p, p) && fusable(g, p) && !g.is_sparse() &&
          (o.momentum() == 0 || first || fusable(buffer, p))) {
        if (first) buffer = torch::empty_like(p, at::MemoryFormat::Contiguous);
        const Factors f{static_cast<float>(o.weight_decay()),
                        static_cast<float>(o.momentum()),
                        static_cast<float>(1 - o.dampening()),
                        static_cast<float>(-1 * o.lr()),
                        o.nesterov(),
                        first};
        update(p.data_ptr<float>(), g.data_ptr<float>(),
               o.momentum() != 0 ? buffer.data_ptr<float>() : nullptr, p.numel(), f);
        p.unsafeGetTensorImpl()->bump_version();  // as p.add_ would: autograd sees the change
      } else {
        libtorch_update(p, o, &buffer);
      }
      if (first) {
        auto made = std::make_unique<SGDParamState>();
        made->momentum_buffer(buffer);
        state_[key] = std::move(made);
      }
    }
  }
  return loss;
}

}  // namespace mmfuse::train
