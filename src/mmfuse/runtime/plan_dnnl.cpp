#include "mmfuse/runtime/plan_dnnl.h"

#include "mmfuse/core/error.h"

#include <algorithm>
#include <unordered_map>

#include <ATen/Parallel.h>

namespace mmfuse::runtime {

dnnl::engine& plan_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::memory plan_constant(const torch::Tensor& t, const dnnl::memory::desc& plain,
                           const dnnl::memory::desc& md) {
  const bool f32 = plain.data_type() == dnnl::memory::data_type::f32;
  const torch::Tensor src = (f32 ? t.to(torch::kFloat) : t).contiguous();
  dnnl::memory from(plain, plan_engine(), const_cast<void*>(src.data_ptr()));
  dnnl::memory to(md, plan_engine());
  dnnl::stream stream(plan_engine());
  dnnl::reorder(from, to).execute(stream, from, to);
  stream.wait();
  return to;
}

int DnnlProgram::add_buffer(const dnnl::memory::desc& md) {
  buffers.push_back(md);
  return kPlanBuffer + static_cast<int>(buffers.size()) - 1;
}

dnnl::primitive_attr plan_attr() {
  dnnl::primitive_attr attr;
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

DnnlStep& DnnlProgram::add_step(dnnl::primitive primitive, const dnnl::primitive_desc_base& pd) {
  if (pd.get_primitive_attr().get_scratchpad_mode() != dnnl::scratchpad_mode::user) {
    throw Error(std::string("a plan primitive (") + pd.impl_info_str() +
                ") was made without plan_attr(): its library-owned scratchpad would be shared by "
                "concurrent callers");
  }
  note_implementation(pd.impl_info_str());
  steps.push_back(DnnlStep{std::move(primitive), {}, {}, {}});
  const dnnl::memory::desc scratch = pd.scratchpad_desc();
  if (scratch.get_size() > 0) steps.back().scratchpad = add_buffer(scratch);
  return steps.back();
}

DnnlStep& DnnlProgram::add_host_step(HostStep host, const std::string& implementation) {
  note_implementation(implementation);
  steps.push_back(DnnlStep{dnnl::primitive(), {}, {}, std::move(host)});
  return steps.back();
}

void DnnlProgram::note_implementation(const std::string& name) {
  if (std::find(implementations.begin(), implementations.end(), name) == implementations.end()) {
    implementations.push_back(name);
  }
}

std::vector<dnnl::memory> DnnlProgram::lease() const {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!free_.empty()) {
      auto set = std::move(free_.back());
      free_.pop_back();
      return set;
    }
  }
  std::vector<dnnl::memory> set;  // first call of this batch size on this many threads at once
  set.reserve(buffers.size());
  for (const auto& md : buffers) set.emplace_back(md, plan_engine());
  return set;
}

void DnnlProgram::give_back(std::vector<dnnl::memory> set) const {
  std::lock_guard<std::mutex> lock(mutex_);
  free_.push_back(std::move(set));
}

void DnnlProgram::run(const void* in, void* out) const {
  // oneDNN (OpenMP build, as LibTorch's) forks omp_get_max_threads() of the calling thread:
  // make it LibTorch's intra-op count in threads that have not run a LibTorch parallel op yet.
  at::internal::lazy_init_num_threads();
  std::vector<dnnl::memory> set = lease();
  dnnl::memory in_mem(input, plan_engine(), const_cast<void*>(in));
  dnnl::memory out_mem(output, plan_engine(), out);
  auto slot = [&](int s) -> const dnnl::memory& {
    if (s == kPlanInput) return in_mem;
    if (s == kPlanOutput) return out_mem;
    return set[static_cast<std::size_t>(s - kPlanBuffer)];
  };
  dnnl::stream stream(plan_engine());
  try {
    for (const auto& step : steps) {
      if (step.host) {  // the CPU stream is in order: earlier primitives have written its source
        step.host(slot(step.slots.at(DNNL_ARG_SRC)), slot(step.slots.at(DNNL_ARG_DST)));
        continue;
      }
      std::unordered_map<int, dnnl::memory> args;
      for (const auto& [arg, s] : step.slots) args.emplace(arg, slot(s));
      if (step.scratchpad >= kPlanBuffer) args.emplace(DNNL_ARG_SCRATCHPAD, slot(step.scratchpad));
      for (const auto& [arg, m] : step.constants) args.emplace(arg, m);
      step.primitive.execute(stream, args);
    }
    stream.wait();
  } catch (...) {
    give_back(std::move(set));
    throw;
  }
  give_back(std::move(set));
}

dnnl::memory::desc plan_rows_desc(int64_t rows, int64_t cols) {
  return dnnl::memory::desc({rows, cols}, dnnl::memory::data_type::f32,
                            dnnl::memory::format_tag::nc);
}

void add_inner_product(DnnlProgram& p, const torch::Tensor& w, const torch::Tensor& b, int64_t rows,
                       int src, int dst, bool relu) {
  using Tag = dnnl::memory::format_tag;
  constexpr auto f32 = dnnl::memory::data_type::f32;
  const int64_t in = w.size(1), out = w.size(0);
  const dnnl::memory::desc bias_md({out}, f32, Tag::x);
  dnnl::inner_product_forward::desc desc(
      dnnl::prop_kind::forward_inference, plan_rows_desc(rows, in),
      dnnl::memory::desc({out, in}, f32, Tag::any), bias_md, plan_rows_desc(rows, out));
  dnnl::primitive_attr attr = plan_attr();
  if (relu) {
    dnnl::post_ops ops;
    ops.append_eltwise(1.f, dnnl::algorithm::eltwise_relu, 0.f, 0.f);
    attr.set_post_ops(ops);
  }
  dnnl::inner_product_forward::primitive_desc pd(desc, attr, plan_engine());
  DnnlStep& s = p.add_step(dnnl::inner_product_forward(pd), pd);
  s.slots = {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}};
  s.constants = {{DNNL_ARG_WEIGHTS,
                  plan_constant(w, dnnl::memory::desc({out, in}, f32, Tag::oi), pd.weights_desc())},
                 {DNNL_ARG_BIAS, plan_constant(b, bias_md, pd.bias_desc())}};
}

std::unique_ptr<DnnlProgramCache> inner_product_programs(torch::Tensor w, torch::Tensor b) {
  return std::make_unique<DnnlProgramCache>([w, b](int64_t rows) {
    auto p = std::make_unique<DnnlProgram>();
    p->input = plan_rows_desc(rows, w.size(1));
    p->output = plan_rows_desc(rows, w.size(0));
    add_inner_product(*p, w, b, rows, kPlanInput, kPlanOutput, false);
    return p;
  });
}

void add_quantize_step(DnnlProgram& p, int src, int dst, int64_t values,
                       nn::quant::ActivationQuant q, bool shift_signed) {
  p.add_host_step(
       [values, q, shift_signed](const dnnl::memory& from, const dnnl::memory& to) {
         auto* codes = static_cast<uint8_t*>(to.get_data_handle());
         nn::quant::quantize_activations(static_cast<const float*>(from.get_data_handle()), values,
                                         q, codes);
         if (!shift_signed || q.is_unsigned) return;
         for (int64_t i = 0; i < values; ++i) {  // int8 codes in [-63, 63] -> u8 + shift
           codes[i] = static_cast<uint8_t>(static_cast<int8_t>(codes[i]) + nn::quant::kSignedShift);
         }
       },
       "mmfuse:quantize")
      .slots = {{DNNL_ARG_SRC, src}, {DNNL_ARG_DST, dst}};
}

std::vector<std::string> plan_implementations(const std::vector<const DnnlProgramCache*>& caches) {
  std::vector<std::string> out;
  for (const auto* c : caches) {
    for (const auto& impl : c->implementations()) {
      if (std::find(out.begin(), out.end(), impl) == out.end()) out.push_back(impl);
    }
  }
  return out;
}

std::vector<std::pair<int64_t, int64_t>> plan_pieces(int64_t batch, int64_t largest) {
  int64_t piece = 1;
  while (piece * 2 <= std::max<int64_t>(1, largest)) piece *= 2;
  std::vector<std::pair<int64_t, int64_t>> out;
  int64_t start = 0;
  for (; batch - start >= piece; start += piece) out.emplace_back(start, piece);
  for (piece /= 2; piece > 0; piece /= 2) {
    if (batch - start >= piece) {
      out.emplace_back(start, piece);
      start += piece;
    }
  }
  return out;
}

const DnnlProgram& DnnlProgramCache::get(int64_t batch) const {
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = programs_.find(batch);
  if (it == programs_.end()) it = programs_.emplace(batch, build_(batch)).first;
  return *it->second;
}

int64_t DnnlProgramCache::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return static_cast<int64_t>(programs_.size());
}

std::vector<std::string> DnnlProgramCache::implementations() const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::vector<std::string> out;
  for (const auto& [batch, p] : programs_) {
    for (const auto& impl : p->implementations) {
      if (std::find(out.begin(), out.end(), impl) == out.end()) out.push_back(impl);
    }
  }
  return out;
}

}  // namespace mmfuse::runtime
