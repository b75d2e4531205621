// Plan compiler of the `cross_attention` fusion (nn/fusion/cross_attention.h). The module runs
// dozens of small LibTorch ops per modality (Linear, MultiheadAttention's projections and bmm,
// softmax, LayerNorm, masked mean), and LibTorch's GEMMs are slow at these sizes. Here a batch
// runs in power-of-two pieces (plan_pieces), each as
//   X_j   = tokens_j Wp_j^T + bp_j + pos_j        oneDNN inner product, positions added on the host
//   P_j   = X_j Win_j^T + bin_j                   one inner product per modality: its own queries
//           (the softmax scale folded in) and the keys and values it gives to each other branch
//   ctx_i = softmax(Q_i K^T) V per head            host kernel over the sample's valid keys only
//   A_i   = ctx_i Wo_i^T + bo_i                    inner product
//   z_i   = masked mean of LayerNorm(X_i + A_i)    host; missing_i where the branch has no query
//                                                  token or nothing to attend to
//   fused = z + ff(z)                              two inner products (ReLU post-op), host add
// A call splits its samples evenly over LibTorch's threads, each share running its pieces on its
// own thread. The host kernels are in plan_attention.cpp.
//
// In an int8 run (`mmfuse optimize --int8 static`) the Linear layers the run quantized (the
// projections proj.j, each attention's out_proj, the feed-forward ff) run as int8 inner products
// with the module's input quantization (plan_int8_linear.h); the rest as above.
#include <oneapi/dnnl/dnnl.hpp>

#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <set>

#include "mmfuse/nn/fusion/cross_attention.h"
#include "mmfuse/nn/quant/hooks.h"
#include "mmfuse/runtime/plan_attention.h"
#include "mmfuse/runtime/plan_compilers.h"
#include "mmfuse/runtime/plan_dnnl.h"
#include "mmfuse/runtime/plan_int8_linear.h"

namespace mmfuse::runtime {

namespace {

// Samples per piece: a piece's intermediates (about 100 KB a sample for AV-MNIST) stay in L2.
constexpr int64_t kXattnLargestPiece = 8;

// The Linear `name` (name.weight, name.bias of `params`) as programs: int8 when `quant` hooked it
// as a static int8 layer, else float32.
std::unique_ptr<DnnlProgramCache> linear_programs(
    const torch::OrderedDict<std::string, torch::Tensor>& params, const std::string& name,
    const nn::quant::QuantizedModel* quant) {
  const torch::Tensor &w = params[name + ".weight"], &b = params[name + ".bias"];
  if (quant) {
    if (auto q = linear_quant(*quant, w, b); q.int8) {
      return std::make_unique<DnnlProgramCache>(
          [layer = *q.int8](int64_t rows) { return build_int8_linear(layer, rows); });
    }
  }
  return inner_product_programs(w.detach().contiguous().clone(), b.detach().contiguous().clone());
}

// y [size] = x [size] + y: the feed-forward's residual (input slot + output slot).
void add_residual_step(DnnlProgram& p, int64_t size) {
  DnnlStep& s = p.add_host_step(
      [size](const dnnl::memory& src, const dnnl::memory& dst) {
        const float* z = static_cast<const float*>(src.get_data_handle());
        float* y = static_cast<float*>(dst.get_data_handle());
        for (int64_t k = 0; k < size; ++k) y[k] = z[k] + y[k];
      },
      "host:residual");
  s.slots = {{DNNL_ARG_SRC, kPlanInput}, {DNNL_ARG_DST, kPlanOutput}};
}

// One call's inputs (contiguous; masks and presence bool or undefined) and outputs [B, M d].
struct XattnCall {
  XattnLayout l;
  std::vector<torch::Tensor> tokens, masks, present;
  torch::Tensor z, fused;
};

class CrossAttentionPlan : public CompiledFusion {
 public:
  using Params = torch::OrderedDict<std::string, torch::Tensor>;

  // `quant`: the int8 run's layers (null: float32 throughout).
  CrossAttentionPlan(std::shared_ptr<fusion::CrossAttentionFusionImpl> module, const Params& params,
                     std::vector<double> eps, const nn::quant::QuantizedModel* quant)
      : module_(std::move(module)), eps_(std::move(eps)) {
    torch::NoGradGuard no_grad;
    const auto& o = module_->options;
    const int64_t m = int64_t(o.token_dims().size()), d = o.dim();
    const double scale = 1 / std::sqrt(double(d / o.heads()));  // as MultiheadAttention's
    auto get = [&](const std::string& key) { return params[key].detach().contiguous().clone(); };
    for (int64_t j = 0; j < m; ++j) {
      const std::string n = std::to_string(j), attn = "attn." + n + ".";
      proj_.push_back(linear_programs(params, "proj." + n, quant));
      // P_j = [queries of branch j (scaled) | for each other branch i: its keys, values]
      std::vector<torch::Tensor> w{get(attn + "in_proj_weight").slice(0, 0, d) * scale};
      std::vector<torch::Tensor> b{get(attn + "in_proj_bias").slice(0, 0, d) * scale};
      for (int64_t i = 0; i < m; ++i) {
        if (i == j) continue;
        const std::string other = "attn." + std::to_string(i) + ".";
        w.push_back(get(other + "in_proj_weight").slice(0, d, 3 * d));  // [2d, d]
        b.push_back(get(other + "in_proj_bias").slice(0, d, 3 * d));
      }
      in_proj_.push_back(
          inner_product_programs(torch::cat(w).contiguous(), torch::cat(b).contiguous()));
      out_proj_.push_back(linear_programs(params, attn + "out_proj", quant));
      gamma_.push_back(get("norm." + n + ".weight"));
      beta_.push_back(get("norm." + n + ".bias"));
      missing_.push_back(get("missing_" + n));
    }
    if (params.contains("pos")) pos_.push_back(get("pos").squeeze(0));  // [T, d]
    for (int64_t j = 0; params.contains("pos_" + std::to_string(j)); ++j) {
      pos_.push_back(get("pos_" + std::to_string(j)).squeeze(0));
    }
    ff_w_ = {get("ff.0.weight"), get("ff.2.weight")};
    ff_b_ = {get("ff.0.bias"), get("ff.2.bias")};
    std::optional<Int8Layer> ff0, ff2;
    if (quant) {
      ff0 = linear_quant(*quant, params["ff.0.weight"], params["ff.0.bias"]).int8;
      ff2 = linear_quant(*quant, params["ff.2.weight"], params["ff.2.bias"]).int8;
    }
    if (ff0 && ff2) {  // both int8 (the compiler checked): the hidden layer as u8 codes
      ff_ = std::make_unique<DnnlProgramCache>([first = *ff0, second = *ff2](int64_t n) {
        auto p = build_int8_mlp(first, second, n);
        add_residual_step(*p, n * second.kernel->weight_int8().size(0));
        return p;
      });
    } else {
      ff_ = std::make_unique<DnnlProgramCache>([this](int64_t n) { return build_ff(n); });
    }
  }

  fusion::FusionOutput fuse(const std::vector<nn::Encoded>& inputs) const override {
    if (!covered(inputs)) return module_->fuse(inputs);  // its checks and other paths
    XattnCall call;
    call.l = layout(inputs);
    for (const auto& e : inputs) {  // contiguous; masks bool
      call.tokens.push_back(e.tokens.contiguous());
      call.masks.push_back(e.token_mask.defined() ? e.token_mask.contiguous() : torch::Tensor());
      call.present.push_back(e.present.defined() ? e.present.to(torch::kBool).contiguous()
                                                 : torch::Tensor());
    }
    const int64_t batch = inputs[0].tokens.size(0), md = call.l.m * call.l.d;
    call.z = torch::empty({batch, md});      // [B, M d]
    call.fused = torch::empty({batch, md});  // [B, M d]
    // The samples split evenly over the threads, each share run in pieces on its thread (oneDNN
    // runs single-threaded inside a parallel region): one fork per call, not one per primitive.
    const int64_t threads = std::min<int64_t>(at::get_num_threads(), batch);
    at::parallel_for(0, batch, (batch + threads - 1) / threads,
                     [&](int64_t lo, int64_t hi) { run_share(call, lo, hi - lo); });
    return {call.fused, {}};
  }

  // The feed-forward program is built once per piece size.
  int64_t compiled_shapes() const override { return ff_->size(); }

  std::vector<std::string> implementations() const override {
    std::vector<const DnnlProgramCache*> caches;
    for (const auto* list : {&proj_, &in_proj_, &out_proj_}) {
      for (const auto& c : *list) caches.push_back(c.get());
    }
    caches.push_back(ff_.get());
    std::vector<std::string> out = plan_implementations(caches);
    out.push_back("host:attention");
    return out;
  }

 private:
  // Whether this plan computes the call (else the module does, with its own checks).
  bool covered(const std::vector<nn::Encoded>& inputs) const {
    const auto& dims = module_->options.token_dims();
    if (inputs.size() != dims.size()) return false;
    const int64_t batch = inputs[0].tokens.defined() ? inputs[0].tokens.size(0) : 0;
    for (std::size_t j = 0; j < inputs.size(); ++j) {
      const auto& e = inputs[j];
      const auto& t = e.tokens;
      if (!t.defined() || t.dim() != 3 || t.size(0) != batch || t.size(1) < 1 ||
          t.size(2) != dims[j] || t.scalar_type() != torch::kFloat || !t.device().is_cpu()) {
        return false;
      }
      if (!pos_.empty() && t.size(1) > pos_[pos_.size() == 1 ? 0 : j].size(0)) return false;
      const auto& mask = e.token_mask;
      if (mask.defined() && (mask.scalar_type() != torch::kBool || !mask.device().is_cpu() ||
                             mask.sizes() != torch::IntArrayRef{batch, t.size(1)})) {
        return false;
      }
      const auto& pr = e.present;
      if (pr.defined() && (!pr.device().is_cpu() || pr.sizes() != torch::IntArrayRef{batch})) {
        return false;
      }
    }
    return batch > 0;
  }

  XattnLayout layout(const std::vector<nn::Encoded>& inputs) const {
    XattnLayout l;
    l.m = int64_t(inputs.size());
    l.d = module_->options.dim();
    l.heads = module_->options.heads();
    l.hd = l.d / l.heads;
    l.width = l.d + 2 * l.d * (l.m - 1);
    l.kv.assign(l.m, std::vector<int64_t>(l.m, -1));
    for (int64_t j = 0; j < l.m; ++j) {
      l.tokens.push_back(inputs[j].tokens.size(1));
      l.keys_max += l.tokens.back();
      l.lanes_max = std::max(l.lanes_max, (l.tokens.back() + 7) / 8 * 8);
      for (int64_t i = 0, r = 0; i < l.m; ++i) {
        if (i != j) l.kv[j][i] = l.d + 2 * l.d * r++;
      }
    }
    return l;
  }

  // Samples [b0, b0 + count) of the call, in pieces; buffers [n T_j, d] and [n T_j, width_j].
  void run_share(const XattnCall& c, int64_t b0, int64_t count) const {
    const int64_t most = std::min(count, kXattnLargestPiece);
    std::vector<torch::Tensor> x, p, ctx, a;
    for (int64_t j = 0; j < c.l.m; ++j) {
      for (auto* v : {&x, &ctx, &a}) v->push_back(torch::empty({most * c.l.tokens[j], c.l.d}));
      p.push_back(torch::empty({most * c.l.tokens[j], c.l.width}));
    }
    XattnPiece piece;
    for (int64_t j = 0; j < c.l.m; ++j) {
      piece.p.push_back(p[j].data_ptr<float>());
      piece.x.push_back(x[j].data_ptr<float>());
      piece.a.push_back(a[j].data_ptr<float>());
      piece.ctx.push_back(ctx[j].data_ptr<float>());
    }
    for (const auto& [start, n] : plan_pieces(count, kXattnLargestPiece)) {
      run_piece(c, b0 + start, n, piece);
    }
  }

  // Samples [b0, b0 + n) of the call through every step into z and fused.
  void run_piece(const XattnCall& c, int64_t b0, int64_t n, XattnPiece& piece) const {
    const XattnLayout& l = c.l;
    const int64_t md = l.m * l.d;
    piece.mask.clear();
    piece.present.clear();
    for (int64_t j = 0; j < l.m; ++j) {
      const int64_t t = l.tokens[j], rows = n * t;
      const auto& tokens = c.tokens[j];
      proj_[j]->get(rows).run(tokens.data_ptr<float>() + b0 * t * tokens.size(2), piece.x[j]);
      add_positions(j, rows, t, piece.x[j]);
      in_proj_[j]->get(rows).run(piece.x[j], piece.p[j]);
      piece.mask.push_back(c.masks[j].defined() ? c.masks[j].data_ptr<bool>() + b0 * t : nullptr);
      piece.present.push_back(c.present[j].defined() ? c.present[j].data_ptr<bool>() + b0
                                                     : nullptr);
    }
    xattn_mark_valid(l, n, piece);
    at::parallel_for(0, n * l.m, 1, [&](int64_t lo, int64_t hi) {  // inline on a share
      XattnScratch scratch(l);
      for (int64_t k = lo; k < hi; ++k) xattn_attend(l, piece, k / l.m, k % l.m, scratch);
    });
    for (int64_t i = 0; i < l.m; ++i) {
      out_proj_[i]->get(n * l.tokens[i]).run(piece.ctx[i], piece.a[i]);
    }
    float* z = c.z.data_ptr<float>() + b0 * md;
    at::parallel_for(0, n * l.m, 1, [&](int64_t lo, int64_t hi) {
      for (int64_t k = lo; k < hi; ++k) {
        const int64_t b = k / l.m, i = k % l.m;
        xattn_pool(l, piece, b, i, gamma_[i].data_ptr<float>(), beta_[i].data_ptr<float>(), eps_[i],
                   missing_[i].data_ptr<float>(), z + b * md + i * l.d);
      }
    });
    ff_->get(n).run(z, c.fused.data_ptr<float>() + b0 * md);
  }

  // x [n T, d] += positions of modality j (the first T rows of its table).
  void add_positions(int64_t j, int64_t rows, int64_t t, float* x) const {
    if (pos_.empty()) return;
    const float* pos = pos_[pos_.size() == 1 ? 0 : j].data_ptr<float>();
    const int64_t d = module_->options.dim();
    for (int64_t r = 0; r < rows; ++r) {
      const float* pr = pos + (r % t) * d;
      for (int64_t k = 0; k < d; ++k) x[r * d + k] += pr[k];
    }
  }

  // z [n, M d] -> z + ff(z): Linear, ReLU (post-op), Linear, then the residual on the host.
  std::unique_ptr<DnnlProgram> build_ff(int64_t n) const {
    auto p = std::make_unique<DnnlProgram>();
    const int64_t md = ff_w_[1].size(0), hidden = ff_w_[0].size(0);
    p->input = plan_rows_desc(n, md);
    p->output = plan_rows_desc(n, md);
    const int h = p->add_buffer(plan_rows_desc(n, hidden));
    add_inner_product(*p, ff_w_[0], ff_b_[0], n, kPlanInput, h, true);
    add_inner_product(*p, ff_w_[1], ff_b_[1], n, h, kPlanOutput, false);
    add_residual_step(*p, n * md);
    return p;
  }

  std::shared_ptr<fusion::CrossAttentionFusionImpl> module_;
  std::vector<double> eps_;
  std::vector<std::unique_ptr<DnnlProgramCache>> proj_, in_proj_, out_proj_;
  std::vector<torch::Tensor> gamma_, beta_, missing_, pos_, ff_w_, ff_b_;
  std::unique_ptr<DnnlProgramCache> ff_;
};

}  // namespace

namespace {

// The plan of `block` (null when its module or options are not covered); `quant` as the plan's.
std::unique_ptr<CompiledFusion> compile_xattn(const fusion::FusionBlock& block,
                                              const nn::quant::QuantizedModel* quant) {
  auto module = std::dynamic_pointer_cast<fusion::CrossAttentionFusionImpl>(block.module());
  if (!module || module->options.dim() > 1024) return nullptr;
  for (const auto& p : module->parameters()) {
    if (p.scalar_type() != torch::kFloat || !p.device().is_cpu()) return nullptr;
  }
  const int64_t m = int64_t(module->options.token_dims().size()), d = module->options.dim();
  const auto modules = module->named_modules();
  std::vector<double> eps;
  for (int64_t i = 0; i < m; ++i) {
    const auto* attn = modules["attn." + std::to_string(i)]->as<torch::nn::MultiheadAttention>();
    const auto* norm = modules["norm." + std::to_string(i)]->as<torch::nn::LayerNorm>();
    if (!attn || !norm || !norm->options.elementwise_affine()) return nullptr;
    const auto& o = attn->options;
    if (!o.bias() || o.add_bias_kv() || o.add_zero_attn() || o.kdim() != d || o.vdim() != d) {
      return nullptr;
    }
    eps.push_back(norm->options.eps());
  }
  return std::make_unique<CrossAttentionPlan>(module, module->named_parameters(/*recurse=*/true),
                                              std::move(eps), quant);
}

// Whether the plan computes every Linear of `module` as `quant` does: each of proj.j,
// attn.j.out_proj, ff.0 and ff.2 float32 or static int8, the feed-forward's two layers both or
// neither int8 (its hidden codes unsigned), and no other parameter hooked.
bool xattn_int8_covered(const fusion::CrossAttentionFusionImpl& module,
                        const nn::quant::QuantizedModel& quant) {
  const auto params = module.named_parameters(/*recurse=*/true);
  std::vector<std::string> linears{"ff.0", "ff.2"};
  for (std::size_t j = 0; j < module.options.token_dims().size(); ++j) {
    linears.push_back("proj." + std::to_string(j));
    linears.push_back("attn." + std::to_string(j) + ".out_proj");
  }
  std::set<std::string> linear_weights;
  for (const auto& name : linears) {
    if (!linear_quant(quant, params[name + ".weight"], params[name + ".bias"]).compilable()) {
      return false;
    }
    linear_weights.insert(name + ".weight");
  }
  for (const auto& item : params) {
    if (!linear_weights.count(item.key()) && quant.hooks->find(item.value())) return false;
  }
  const auto ff0 = linear_quant(quant, params["ff.0.weight"], params["ff.0.bias"]).int8;
  const auto ff2 = linear_quant(quant, params["ff.2.weight"], params["ff.2.bias"]).int8;
  return bool(ff0) == bool(ff2) && (!ff2 || ff2->kernel->input()->is_unsigned);
}

}  // namespace

std::unique_ptr<CompiledFusion> compile_cross_attention_plan(const fusion::FusionBlock& block) {
  return compile_xattn(block, nullptr);
}

std::unique_ptr<CompiledFusion> compile_cross_attention_int8_plan(
    const fusion::FusionBlock& block, const nn::quant::QuantizedModel& model) {
  const auto module = std::dynamic_pointer_cast<fusion::CrossAttentionFusionImpl>(block.module());
  if (!module || !model.hooks || !xattn_int8_covered(*module, model)) {
    return nullptr;
  }
  return compile_xattn(block, &model);
}

}  // namespace mmfuse::runtime
