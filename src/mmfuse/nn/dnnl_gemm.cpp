#include "mmfuse/nn/dnnl_gemm.h"

#include <torch/library.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <mutex>
#include <string>
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

// A primitive depends on the shapes, the operands' strides (batch, row, column; the batch
// stride is 0 for a 2-D product), whether there is a bias and whether it runs on one thread.
struct Key {
  int64_t batch, m, k, n, ab, a0, a1, bb, b0, b1;
  bool bias, single_thread;
  bool operator==(const Key& o) const {
    return batch == o.batch && m == o.m && k == o.k && n == o.n && ab == o.ab && a0 == o.a0 &&
           a1 == o.a1 && bb == o.bb && b0 == o.b0 && b1 == o.b1 && bias == o.bias &&
           single_thread == o.single_thread;
  }
};
struct KeyHash {
  std::size_t operator()(const Key& k) const {
    std::size_t h =
        static_cast<std::size_t>(k.bias) * 2 + static_cast<std::size_t>(k.single_thread);
    for (int64_t v : {k.batch, k.m, k.k, k.n, k.ab, k.a0, k.a1, k.bb, k.b0, k.b1}) {
      h = h * 1000003u ^ std::hash<int64_t>()(v);
    }
    return h;
  }
};
struct Prepared {
  memory::desc a, b, c, bias;
  dnnl::matmul matmul;
  bool reference = false;  // oneDNN found only its reference implementation: not used
};

memory::desc operand(int64_t batch, int64_t rows, int64_t cols, int64_t sb, int64_t s0,
                     int64_t s1) {
  if (batch == 0) return memory::desc({rows, cols}, kF32, {s0, s1});
  return memory::desc({batch, rows, cols}, kF32, {sb, s0, s1});
}

// Below this many multiply-adds LibTorch's own kernel is kept: oneDNN forks its OpenMP team for
// every product, which costs more than a tiny product itself (and far more on a loaded machine).
// Inside a SmallProductsOnDnnl scope (training steps) products from kMinMacsSmall up run on oneDNN
// at one thread instead; below kMinMacsSmall a call into oneDNN costs more than the product.
constexpr int64_t kMinMacs = int64_t{1} << 18;
constexpr int64_t kMinMacsSmall = int64_t{1} << 11;

thread_local int t_small_products = 0;  // SmallProductsOnDnnl scopes alive on this thread

// The calling thread's OpenMP team limited to one thread while alive (oneDNN reads it both when a
// primitive is created and when it runs).
class OneThread {
 public:
  explicit OneThread(bool on) : saved_(on ? omp_get_max_threads() : 0) {
    if (saved_ > 1) omp_set_num_threads(1);
  }
  ~OneThread() {
    if (saved_ > 1) omp_set_num_threads(saved_);
  }
  OneThread(const OneThread&) = delete;
  OneThread& operator=(const OneThread&) = delete;

 private:
  int saved_;
};

const Prepared& prepared(const Key& key) {
  thread_local std::unordered_map<Key, Prepared, KeyHash> cache;
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  if (cache.size() >= 512) cache.clear();  // shapes vary (last batches, eval sizes): bound it
  Prepared p;
  p.a = operand(key.batch, key.m, key.k, key.ab, key.a0, key.a1);
  p.b = operand(key.batch, key.k, key.n, key.bb, key.b0, key.b1);
  p.c = operand(key.batch, key.m, key.n, key.m * key.n, key.n, 1);
  dnnl::matmul::primitive_desc pd;
  if (key.bias) {
    p.bias = key.batch == 0 ? memory::desc({1, key.n}, kF32, {key.n, 1})
                            : memory::desc({1, 1, key.n}, kF32, {key.n, key.n, 1});
    pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(p.a, p.b, p.bias, p.c), cpu_engine());
  } else {
    pd = dnnl::matmul::primitive_desc(dnnl::matmul::desc(p.a, p.b, p.c), cpu_engine());
  }
  p.reference = std::string(pd.impl_info_str()).rfind("ref", 0) == 0;
  p.matmul = dnnl::matmul(pd);
  return cache.emplace(key, std::move(p)).first->second;
}

bool ok_operand(const torch::Tensor& t, int64_t dim) {
  if (t.dim() != dim || !t.device().is_cpu() || t.scalar_type() != torch::kFloat ||
      t.layout() != torch::kStrided || t.is_conj() || t.is_neg()) {
    return false;
  }
  for (int64_t d = 0; d < dim; ++d) {
    if (t.size(d) <= 0 || t.stride(d) <= 0) return false;
  }
  return true;
}

// 2-D float32 CPU operands with positive strides and no empty dimension.
bool usable(const torch::Tensor& a, const torch::Tensor& b) {
  return ok_operand(a, 2) && ok_operand(b, 2) && a.size(1) == b.size(0);
}

// The same for batches [B, M, K] x [B, K, N].
bool usable_batched(const torch::Tensor& a, const torch::Tensor& b) {
  return ok_operand(a, 3) && ok_operand(b, 3) && a.size(0) == b.size(0) && a.size(2) == b.size(1);
}

std::atomic<int64_t> g_products{0};

// Runs a (batched when 3-D) product; an undefined result when oneDNN has only its reference
// implementation for these strides.
torch::Tensor try_run(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& bias) {
  const bool batched = a.dim() == 3;
  const int64_t batch = batched ? a.size(0) : 0;
  const int64_t m = a.size(-2), k = a.size(-1), n = b.size(-1);
  if (bias.defined()) {
    TORCH_CHECK(bias.numel() == n && bias.scalar_type() == torch::kFloat,
                "dnnl_mm_bias expected a float32 bias of ", n, " values, got ", bias.sizes());
  }
  const OneThread one_thread(std::max<int64_t>(batch, 1) * m * k * n < kMinMacs);
  const Key key{batch,
                m,
                k,
                n,
                batched ? a.stride(0) : 0,
                a.stride(-2),
                a.stride(-1),
                batched ? b.stride(0) : 0,
                b.stride(-2),
                b.stride(-1),
                bias.defined(),
                omp_get_max_threads() == 1};
  const Prepared& p = prepared(key);
  if (p.reference) return {};
  const torch::Tensor bias_c = bias.defined() ? bias.reshape({n}).contiguous() : torch::Tensor();
  torch::Tensor out =
      batched ? torch::empty({batch, m, n}, a.options()) : torch::empty({m, n}, a.options());
  auto& engine = cpu_engine();
  thread_local dnnl::stream stream(engine);
  std::unordered_map<int, memory> args{{DNNL_ARG_SRC, memory(p.a, engine, a.data_ptr())},
                                       {DNNL_ARG_WEIGHTS, memory(p.b, engine, b.data_ptr())},
                                       {DNNL_ARG_DST, memory(p.c, engine, out.data_ptr())}};
  if (bias_c.defined()) args.emplace(DNNL_ARG_BIAS, memory(p.bias, engine, bias_c.data_ptr()));
  p.matmul.execute(stream, args);
  stream.wait();
  g_products.fetch_add(1, std::memory_order_relaxed);
  return out;
}

torch::Tensor run(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& bias) {
  TORCH_CHECK(usable(a, b), "dnnl_mm expected 2-D float32 CPU operands [M, K] x [K, N], got ",
              a.sizes(), " ", a.scalar_type(), " x ", b.sizes(), " ", b.scalar_type());
  torch::Tensor out = try_run(a, b, bias);
  if (out.defined()) return out;
  return bias.defined() ? torch::addmm(bias, a, b) : torch::mm(a, b);
}

// The replacement kernels: oneDNN where it applies, LibTorch's out= kernels otherwise.
// a [(B,) M, K] x b [(B,) K, N]: B·M·K·N multiply-adds.
bool big_enough(const torch::Tensor& a, const torch::Tensor& b) {
  const int64_t macs = a.numel() * b.size(-1);
  return macs >= kMinMacs || (t_small_products > 0 && macs >= kMinMacsSmall);
}
bool worth_it(const torch::Tensor& a, const torch::Tensor& b) {
  return usable(a, b) && big_enough(a, b);
}

std::atomic<GemmHook> g_gemm_hook{nullptr};

at::Tensor mm_kernel(const at::Tensor& self, const at::Tensor& mat2) {
  if (auto hook = g_gemm_hook.load(); hook && usable(self, mat2)) {
    if (auto r = hook(self, mat2, {}); r.defined()) return r;
  }
  if (worth_it(self, mat2)) {
    if (auto r = try_run(self, mat2, {}); r.defined()) return r;
  }
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
    torch::Tensor r;
    if (beta.equal(0)) r = try_run(mat1, mat2, {});
    if (beta.equal(1) && row_bias) r = try_run(mat1, mat2, self);
    if (r.defined()) return r;
  }
  at::Tensor out = at::empty({0}, self.options());
  return at::addmm_out(out, self, mat1, mat2, beta, alpha);
}

at::Tensor bmm_kernel(const at::Tensor& self, const at::Tensor& mat2) {
  if (usable_batched(self, mat2) && big_enough(self, mat2)) {
    if (auto r = try_run(self, mat2, {}); r.defined()) return r;
  }
  at::Tensor out = at::empty({0}, self.options());
  return at::bmm_out(out, self, mat2);
}

std::atomic<bool> g_active{false};

// Replacing a kernel (and restoring it) makes LibTorch warn; that is intended here, so quiet.
struct SilentWarnings : c10::WarningHandler {
  void process(const c10::SourceLocation&, const std::string&, const bool) override {}
};

}  // namespace

SmallProductsOnDnnl::SmallProductsOnDnnl() {
  ++t_small_products;
}

SmallProductsOnDnnl::~SmallProductsOnDnnl() {
  --t_small_products;
}

int64_t dnnl_products_run() {
  return g_products.load(std::memory_order_relaxed);
}

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
  library_->impl("bmm", TORCH_FN(bmm_kernel));
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
