// What the inference plan's compilers (plan_compilers.h) share: oneDNN's CPU engine, a program of
// primitives over numbered buffers, and the per-batch-size cache of programs.
//
// A DnnlProgram is one block at one batch size: a list of primitives whose arguments are slots
// (kPlanInput: the caller's input, kPlanOutput: the caller's output, kPlanBuffer + i: the i-th
// intermediate buffer) or constant memories (reordered weights). Buffers are allocated once per
// concurrent caller and reused; a call allocates nothing but oneDNN's memory handles.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <torch/torch.h>

#include "mmfuse/nn/quant/int8_kernels.h"

namespace mmfuse::runtime {

class DnnlProgramCache;

constexpr int kPlanInput = -1;
constexpr int kPlanOutput = -2;
constexpr int kPlanBuffer = 0;

/// oneDNN's CPU engine (one per process).
dnnl::engine& plan_engine();

/// Attributes every plan primitive is made with: a user-owned scratchpad, which the program
/// leases per caller with its buffers (oneDNN's library-owned one is shared by every execution of
/// a primitive, so concurrent callers would overwrite each other's, e.g. in brgemm kernels).
dnnl::primitive_attr plan_attr();

/// A oneDNN memory holding a copy of `t` (any shape) in `md`'s layout, reordered from the plain
/// layout `plain`: float32 (`t` converted) or, for int8 weights, `plain`'s type as `t` holds it.
/// The reorder adds what `md` asks for (oneDNN's s8-input compensation of int8 weights).
dnnl::memory plan_constant(const torch::Tensor& t, const dnnl::memory::desc& plain,
                           const dnnl::memory::desc& md);

/// A step on the host instead of a primitive: reads DNNL_ARG_SRC's slot, writes DNNL_ARG_DST's.
using HostStep = std::function<void(const dnnl::memory& src, const dnnl::memory& dst)>;

struct DnnlStep {
  dnnl::primitive primitive;
  std::map<int, int> slots;               ///< DNNL_ARG_* -> slot
  std::map<int, dnnl::memory> constants;  ///< DNNL_ARG_* -> constant (weights, bias)
  HostStep host;                          ///< when set, runs instead of `primitive`
  int scratchpad = kPlanInput;            ///< its scratchpad's buffer slot (kPlanInput: none)
};

class DnnlProgram {
 public:
  dnnl::memory::desc input;   ///< the caller's input layout
  dnnl::memory::desc output;  ///< the caller's output layout
  std::vector<dnnl::memory::desc> buffers;
  std::vector<DnnlStep> steps;
  std::vector<std::string> implementations;

  /// Slot of a new intermediate buffer of layout `md`.
  int add_buffer(const dnnl::memory::desc& md);
  /// Appends `primitive` and records its implementation name (pd.impl_info_str()); its
  /// scratchpad, if any, becomes a buffer. Throws Error when `pd` was not made with plan_attr().
  DnnlStep& add_step(dnnl::primitive primitive, const dnnl::primitive_desc_base& pd);
  /// Appends a host step named `implementation`; set its DNNL_ARG_SRC and DNNL_ARG_DST slots.
  DnnlStep& add_host_step(HostStep host, const std::string& implementation);

  /// Runs every step on the caller's input and output data (layouts `input` and `output`).
  void run(const void* in, void* out) const;

 private:
  void note_implementation(const std::string& name);
  std::vector<dnnl::memory> lease() const;
  void give_back(std::vector<dnnl::memory> set) const;

  mutable std::mutex mutex_;
  mutable std::vector<std::vector<dnnl::memory>> free_;
};

/// A float32 [rows, cols] row-major layout (oneDNN's `nc`).
dnnl::memory::desc plan_rows_desc(int64_t rows, int64_t cols);

/// Appends the inner product [rows, in] -> [rows, out] of weight `w` [out, in] and bias `b` [out]
/// (both float32, contiguous), ReLU as a post-op when `relu`, from slot `src` to slot `dst`.
void add_inner_product(DnnlProgram& p, const torch::Tensor& w, const torch::Tensor& b, int64_t rows,
                       int src, int dst, bool relu);

/// Programs of one inner product (add_inner_product, input to output) per number of rows.
std::unique_ptr<DnnlProgramCache> inner_product_programs(torch::Tensor w, torch::Tensor b);

/// Appends a host step quantizing `values` float32 values of slot `src` into slot `dst` with the
/// int8 layers' rounding and clamping (nn::quant::quantize_activations); with `shift_signed`,
/// signed codes are stored as u8 + kSignedShift, as Int8Linear feeds them to oneDNN.
void add_quantize_step(DnnlProgram& p, int src, int dst, int64_t values,
                       nn::quant::ActivationQuant q, bool shift_signed = false);

/// Distinct implementation names over several programs caches, in order met.
std::vector<std::string> plan_implementations(const std::vector<const DnnlProgramCache*>& caches);

/// A batch of `batch` rows cut into pieces {start, size} whose sizes are powers of two no larger
/// than `largest` (itself rounded down to one): full pieces first, then the remainder's binary
/// digits (13 with largest 8: 8, 4, 1). Programs are built per piece size, so a server that sees
/// every batch size from 1 to 32 compiles and keeps 6 programs per block, not 32.
std::vector<std::pair<int64_t, int64_t>> plan_pieces(int64_t batch, int64_t largest);

/// Programs per batch size, each built once on first use. Thread-safe.
class DnnlProgramCache {
 public:
  using Build = std::function<std::unique_ptr<DnnlProgram>(int64_t batch)>;
  explicit DnnlProgramCache(Build build) : build_(std::move(build)) {}

  const DnnlProgram& get(int64_t batch) const;
  int64_t size() const;
  /// Distinct implementation names over the programs built.
  std::vector<std::string> implementations() const;

 private:
  Build build_;
  mutable std::mutex mutex_;
  mutable std::map<int64_t, std::unique_ptr<DnnlProgram>> programs_;
};

}  // namespace mmfuse::runtime
