#include "mmfuse/models/summary.h"

#include <ATen/record_function.h>

#include <cstring>
#include <iomanip>
#include <sstream>

#include "mmfuse/core/error.h"

namespace mmfuse::models {

namespace {

// State of the count running on this thread (RecordFunction callbacks are plain functions).
struct FlopState {
  FlopCount* out = nullptr;
  int inside_counted = 0;  // nesting depth of counted ops (nested ones are not counted again)
};
thread_local FlopState* tls_state = nullptr;

struct CountedContext : at::ObserverContext {
  bool outermost = false;
};

enum class OpKind { none, conv, mm, addmm, bmm, baddbmm, bilinear };

OpKind op_kind(const char* name) {
  static const std::pair<const char*, OpKind> kOps[] = {{"aten::convolution", OpKind::conv},
                                                        {"aten::mkldnn_convolution", OpKind::conv},
                                                        {"aten::mm", OpKind::mm},
                                                        {"aten::addmm", OpKind::addmm},
                                                        {"aten::bmm", OpKind::bmm},
                                                        {"aten::baddbmm", OpKind::baddbmm},
                                                        {"aten::bilinear", OpKind::bilinear}};
  for (const auto& [n, k] : kOps) {
    if (std::strcmp(name, n) == 0) return k;
  }
  return OpKind::none;
}

bool is_uncounted_product(const char* name) {
  static const char* kFused[] = {"aten::mkldnn_rnn_layer",
                                 "aten::_thnn_fused_lstm_cell",
                                 "aten::_thnn_fused_gru_cell",
                                 "aten::mkldnn_linear",
                                 "aten::_native_multi_head_attention",
                                 "aten::scaled_dot_product_attention"};
  for (const char* f : kFused) {
    if (std::strcmp(name, f) == 0) return true;
  }
  return false;
}

std::vector<int64_t> shape_at(c10::ArrayRef<const c10::IValue> values, std::size_t i) {
  if (i >= values.size() || !values[i].isTensor()) return {};
  return values[i].toTensor().sizes().vec();
}

int64_t prod(const std::vector<int64_t>& v, std::size_t from = 0) {
  int64_t p = 1;
  for (std::size_t i = from; i < v.size(); ++i) p *= v[i];
  return p;
}

// Multiply-adds of one counted op from its input (and output) shapes; 0 when shapes are odd.
double macs_of(OpKind kind, const at::RecordFunction& fn) {
  auto in = fn.inputs();
  switch (kind) {
    case OpKind::conv: {  // (input, weight, bias, stride, padding, dilation, transposed, ...)
      auto x = shape_at(in, 0), w = shape_at(in, 1);
      if (x.empty() || w.size() < 3) return 0;
      const bool transposed = in.size() > 6 && in[6].isBool() && in[6].toBool();
      if (transposed) return double(prod(x)) * w[1] * prod(w, 2);  // w: [C_in, C_out/g, k...]
      const auto& outs = fn.outputs();
      if (outs.empty() || !outs[0].isTensor()) return 0;
      return double(outs[0].toTensor().numel()) * w[1] * prod(w, 2);  // w: [C_out, C_in/g, k...]
    }
    case OpKind::mm: {
      auto a = shape_at(in, 0), b = shape_at(in, 1);
      return a.size() == 2 && b.size() == 2 ? double(a[0]) * a[1] * b[1] : 0;
    }
    case OpKind::addmm: {
      auto a = shape_at(in, 1), b = shape_at(in, 2);
      return a.size() == 2 && b.size() == 2 ? double(a[0]) * a[1] * b[1] : 0;
    }
    case OpKind::bmm:
    case OpKind::baddbmm: {
      const std::size_t o = kind == OpKind::bmm ? 0 : 1;
      auto a = shape_at(in, o), b = shape_at(in, o + 1);
      return a.size() == 3 && b.size() == 3 ? double(a[0]) * a[1] * a[2] * b[2] : 0;
    }
    case OpKind::bilinear: {  // (input1 [.., in1], input2 [.., in2], weight [out, in1, in2], bias)
      auto x = shape_at(in, 0), w = shape_at(in, 2);
      if (x.empty() || w.size() != 3) return 0;
      return double(prod(x) / x.back()) * w[0] * w[1] * w[2];
    }
    case OpKind::none:
      break;
  }
  return 0;
}

std::unique_ptr<at::ObserverContext> on_start(const at::RecordFunction& fn) {
  FlopState* s = tls_state;
  if (!s) return nullptr;
  if (op_kind(fn.name()) == OpKind::none) {
    if (is_uncounted_product(fn.name()) && s->inside_counted == 0) s->out->uncounted[fn.name()]++;
    return nullptr;
  }
  auto ctx = std::make_unique<CountedContext>();
  ctx->outermost = s->inside_counted++ == 0;
  return ctx;
}

void on_end(const at::RecordFunction& fn, at::ObserverContext* ctx_base) {
  FlopState* s = tls_state;
  auto* ctx = dynamic_cast<CountedContext*>(ctx_base);
  if (!s || !ctx) return;
  --s->inside_counted;
  if (!ctx->outermost) return;
  const double flops = 2.0 * macs_of(op_kind(fn.name()), fn);
  s->out->total += flops;
  // A direct oneDNN convolution (inference paths) is reported as the convolution it is.
  const bool conv = op_kind(fn.name()) == OpKind::conv;
  s->out->by_op[conv ? "aten::convolution" : fn.name()] += flops;
}

std::string type_name(const torch::nn::Module& m) {
  std::string n = m.name();
  if (auto colon = n.rfind("::"); colon != std::string::npos) n = n.substr(colon + 2);
  if (n.size() > 4 && n.compare(n.size() - 4, 4, "Impl") == 0) n.resize(n.size() - 4);
  return n;
}

std::string with_commas(double v) {
  std::string digits = std::to_string(static_cast<int64_t>(v + 0.5));
  for (int i = static_cast<int>(digits.size()) - 3; i > 0; i -= 3) digits.insert(i, ",");
  return digits;
}

std::string human(double v) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(2);
  if (v >= 1e9) {
    out << v / 1e9 << " G";
  } else if (v >= 1e6) {
    out << v / 1e6 << " M";
  } else if (v >= 1e3) {
    out << v / 1e3 << " k";
  } else {
    out << std::setprecision(0) << v << " ";
  }
  return out.str();
}

}  // namespace

FlopCount count_flops(const std::function<void()>& fn) {
  if (tls_state) throw Error("count_flops is already running on this thread");
  FlopCount count;
  FlopState state{&count, 0};
  tls_state = &state;
  auto handle = at::addThreadLocalCallback(at::RecordFunctionCallback(on_start, on_end)
                                               .needsInputs(true)
                                               .needsOutputs(true)
                                               .scopes({at::RecordScope::FUNCTION}));
  try {
    fn();
  } catch (...) {
    at::removeCallback(handle);
    tls_state = nullptr;
    throw;
  }
  at::removeCallback(handle);
  tls_state = nullptr;
  return count;
}

ModelSummary summarize_modules(const torch::nn::Module& module) {
  ModelSummary s;
  for (const auto& item : module.named_modules("", /*include_self=*/true)) {
    ModuleRow row;
    row.path = item.key();
    row.type = type_name(*item.value());
    row.depth = row.path.empty() ? 0 : 1 + std::count(row.path.begin(), row.path.end(), '.');
    for (const auto& p : item.value()->parameters(/*recurse=*/true)) row.params += p.numel();
    s.modules.push_back(row);
  }
  for (const auto& p : module.parameters(/*recurse=*/true)) {
    s.params += p.numel();
    if (p.requires_grad()) s.trainable += p.numel();
  }
  return s;
}

ModelSummary summarize_model(MultimodalModel& model, const ModelInputs& inputs, int64_t seq_len) {
  ModelSummary s = summarize_modules(*model);
  const bool was_training = model->is_training();
  model->eval();
  data::Batch batch = example_batch(inputs, 1, seq_len);
  {
    torch::NoGradGuard no_grad;
    s.flops = count_flops([&] { model->forward(batch); });
  }
  model->train(was_training);
  return s;
}

std::string format_summary(const ModelSummary& summary, int max_depth) {
  std::ostringstream out;
  std::size_t width = 24;
  for (const auto& r : summary.modules) width = std::max(width, r.path.size() + 2 * r.depth + 2);
  out << std::left << std::setw(width) << "module" << std::setw(24) << "type" << std::right
      << std::setw(14) << "params"
      << "\n";
  for (const auto& r : summary.modules) {
    if (max_depth >= 0 && r.depth > max_depth) continue;
    const std::string name = std::string(2 * r.depth, ' ') + (r.path.empty() ? "(model)" : r.path);
    out << std::left << std::setw(width) << name << std::setw(24) << r.type << std::right
        << std::setw(14) << with_commas(r.params) << "\n";
  }
  out << "parameters: " << with_commas(summary.params) << " (trainable "
      << with_commas(summary.trainable) << ")\n";
  out << "forward FLOPs per sample: " << with_commas(summary.flops.total) << " ("
      << human(summary.flops.total) << "FLOPs; 2 x multiply-adds of conv/matmul ops)\n";
  for (const auto& [op, f] : summary.flops.by_op) {
    out << "  " << std::left << std::setw(22) << op << std::right << std::setw(16) << with_commas(f)
        << "\n";
  }
  for (const auto& [op, n] : summary.flops.uncounted) {
    out << "  not counted: " << op << " (x" << n << ", fused kernel)\n";
  }
  return out.str();
}

}  // namespace mmfuse::models
