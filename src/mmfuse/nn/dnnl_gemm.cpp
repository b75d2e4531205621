#include "mmfuse/nn/dnnl_gemm.h"

#include <torch/library.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <atomic>
#include <mutex>
#include <unordered_map>

#include "mmfuse/core/error.h"

namespace mmfuse::nn {

namespace {

using dnnl::memory;
constexpr auto kF32 = memory::data_type::f32;

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

// A primitive depends on the shapes, the operands' strides and whether there is a bias.
struct Key {
  int64_t m, k, n, a0, a1, b0, b1;
  bool bias;
  bool operator==(const Key& o) const {
    return m == o.m && k == o.k && n == o.n && a0 == o.a0 && a1 == o.a1 && b0 == o.b0 &&
           b1 == o.b1 && bias == o.bias;
  }
};
struct KeyHash {
  std::size_t operator()(const Key& k) const {
    std::size_t h = static_cast<std::size_t>(k.bias);
    for (int64_t v : {k.m, k.k, k.n, k.a0, k.a1, k.b0, k.b1}) {
      h = h * 1000003u ^ std::hash<int64_t>()(v);
    }
    return h;
  }
};
struct Prepared {
  memory::desc a, b, c, bias;
  dnnl::matmul matmul;
};

const Prepared& prepared(const Key& key) {
  thread_local std::unordered_map<Key, Prepared, KeyHash> cache;
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  if (cache.size() >= 512) cache.clear();  // shapes vary (last batches, eval sizes): bound it
  Prepared p;
  p.a = memory::desc({key.m, key.k}, kF32, {key.a0, key.a1});
  p.b = memory::desc({key.k, key.n}, kF32, {key.b0, key.b1});
  p.c = memory::desc({key.m, key.n}, kF32, {key.n, 1});
  if (key.bias) {
    p.bias = memory::desc({1, key.n}, kF32, {key.n, 1});
    p.matmul = dnnl::matmul(
        dnnl::matmul::primitive_desc(dnnl::matmul::desc(p.a, p.b, p.bias, p.c), cpu_engine()));
  } else {
    p.matmul =
        dnnl::matmul(dnnl::matmul::primitive_desc(dnnl::matmul::desc(p.a, p.b, p.c), cpu_engine()));
  }
  return cache.emplace(key, std::move(p)).first->second;
}

// Below this many multiply-adds LibTorch's own kernel is kept: oneDNN forks its OpenMP team for
// every product, which costs more than a tiny product itself (and far more on a loaded machine).
constexpr int64_t kMinMacs = int64_t{1} << 18;

// 2-D float32 CPU operands with positive strides and no empty dimension.
bool usable(const torch::Tensor& a, const torch::Tensor& b) {
  auto ok = [](const torch::Tensor& t) {
    return t.dim() == 2 && t.device().is_cpu() && t.scalar_type() == torch::kFloat &&
           t.layout() == torch::kStrided && !t.is_conj() && !t.is_neg() && t.size(0) > 0 &&
           t.size(1) > 0 && t.stride(0) > 0 && t.stride(1) > 0;
  };
  return ok(a) && ok(b) && a.size(1) == b.size(0);
}

torch::Tensor run(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& bias) {
  TORCH_CHECK(usable(a, b), "dnnl_mm expected 2-D float32 CPU operands [M, K] x [K, N], got ",
              a.sizes(), " ", a.scalar_type(), " x ", b.sizes(), " ", b.scalar_type());
  const int64_t m = a.size(0), k = a.size(1), n = b.size(1);
  torch::Tensor bias_c;
  if (bias.defined()) {
    TORCH_CHECK(bias.numel() == n && bias.scalar_type() == torch::kFloat,
                "dnnl_mm_bias expected a float32 bias of ", n, " values, got ", bias.sizes());
    bias_c = bias.reshape({n}).contiguous();
  }
  const Prepared& p =
      prepared({m, k, n, a.stride(0), a.stride(1), b.stride(0), b.stride(1), bias.defined()});
  torch::Tensor out = torch::empty({m, n}, a.options());
  auto& engine = cpu_engine();
  thread_local dnnl::stream stream(engine);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, memory(p.a, engine, a.data_ptr())},
                                       {DNNL_ARG_WEIGHTS, memory(p.b, engine, b.data_ptr())},
                                       {DNNL_ARG_DST, memory(p.c, engine, out.data_ptr())}};
  if (bias_c.defined()) args.emplace(DNNL_ARG_BIAS, memory(p.bias, engine, bias_c.data_ptr()));
  p.matmul.execute(stream, args);
  stream.wait();
  return out;
}

// The replacement kernels: oneDNN where it applies, LibTorch's out= kernels otherwise.
bool worth_it(const torch::Tensor& a, const torch::Tensor& b) {
  return usable(a, b) && a.size(0) * a.size(1) * b.size(1) >= kMinMacs;
}

std::atomic<GemmHook> g_gemm_hook{nullptr};

at::Tensor mm_kernel(const at::Tensor& self, const at::Tensor& mat2) {
  if (auto hook = g_gemm_hook.load(); hook && usable(self, mat2)) {
    if (auto r = hook(self, mat2, {}); r.defined()) return r;
  }
  if (worth_it(self, mat2)) return run(self, mat2, {});
  at::Tensor out = at::empty({0}, self.options());
  return at::mm_out(out, self, mat2);
}

at::Tensor addmm_kernel(const at::Tensor& self, const at::Tensor& mat1, const at::Tensor& mat2,
                        const at::Scalar& beta, const at::Scalar& alpha) {
  if (auto hook = g_gemm_hook.load(); hook && usable(mat1, mat2) && alpha.equal(1)) {
    const bool bias_row =
        self.scalar_type() == torch::kFloat && self.dim() == 1 && self.size(0) == mat2.size(1);
    torch::Tensor r;
    if (beta.equal(0)) r = hook(mat1, mat2, {});
    if (beta.equal(1) && bias_row) r = hook(mat1, mat2, self);
    if (r.defined()) return r;
  }
  if (worth_it(mat1, mat2) && alpha.equal(1)) {
    const int64_t n = mat2.size(1);
    const bool row_bias = self.scalar_type() == torch::kFloat &&
                          (self.dim() == 1 || (self.dim() == 2 && self.size(0) == 1)) &&
                          self.size(-1) == n;
    if (beta.equal(0)) return run(mat1, mat2, {});
    if (beta.equal(1) && row_bias) return run(mat1, mat2, self);
  }
  at::Tensor out = at::empty({0}, self.options());
  return at::addmm_out(out, self, mat1, mat2, beta, alpha);
}

std::atomic<bool> g_active{false};

// Replacing a kernel (and restoring it) makes LibTorch warn; that is intended here, so quiet.
struct SilentWarnings : c10::WarningHandler {
  void process(const c10::SourceLocation&, const std::string&, const bool) override {}
};

}  // namespace

void set_gemm_hook(GemmHook hook) {
  g_gemm_hook.store(hook);
}

torch::Tensor dnnl_mm(const torch::Tensor& a, const torch::Tensor& b) {
  return run(a, b, {});
}

torch::Tensor dnnl_mm_bias(const torch::Tensor& a, const torch::Tensor& b,
                           const torch::Tensor& bias) {
  TORCH_CHECK(bias.defined(), "dnnl_mm_bias expected a bias; use dnnl_mm without one");
  return run(a, b, bias);
}

DnnlGemm::DnnlGemm() {
  if (g_active.exchange(true)) throw Error("a DnnlGemm is already active in this process");
  SilentWarnings silent;
  c10::Warning::WarningHandlerGuard guard(&silent);
  library_ = std::make_unique<torch::Library>(torch::Library::IMPL, "aten", c10::DispatchKey::CPU,
                                              __FILE__, __LINE__);
  library_->impl("mm", TORCH_FN(mm_kernel));
  library_->impl("addmm", TORCH_FN(addmm_kernel));
}

DnnlGemm::~DnnlGemm() {
  {
    SilentWarnings silent;
    c10::Warning::WarningHandlerGuard guard(&silent);
    library_.reset();
  }
  g_active = false;
}

std::shared_ptr<const DnnlGemm> acquire_dnnl_gemm() {
  // The one process-wide resource behind LibTorch's dispatcher: a weak owner shared by all.
  static std::mutex mutex;
  static std::weak_ptr<const DnnlGemm> shared;
  std::lock_guard<std::mutex> lock(mutex);
  if (auto live = shared.lock()) return live;
  auto made = std::make_shared<const DnnlGemm>();
  shared = made;
  return made;
}

}  // namespace mmfuse::nn
