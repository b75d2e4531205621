// Plan compiler of the `low_rank` fusion (nn/fusion/low_rank.h). The module computes
//   fused[b] = sum_r w_r prod_i ([z_i, 1] F_i[r])[b] + bias
// with matmuls batched over the rank (LibTorch's bmm: per-rank GEMMs of a few rows at batch 1).
// Here each modality's factors F_i [rank, D_i + 1, out] are laid out once as one weight
// [rank * out, D_i] and a bias [rank * out] (the row that multiplies the constant 1), with w_r
// folded into the first modality's, so each modality is one oneDNN inner product
// [B, D_i] -> [B, rank * out]; then the elementwise product over modalities and the sum over
// the rank. Absent modalities take the module's placeholders (fill_missing), as in the module.
#include <oneapi/dnnl/dnnl.hpp>

#include "mmfuse/nn/fusion/low_rank.h"
#include "mmfuse/runtime/plan_compilers.h"
#include "mmfuse/runtime/plan_dnnl.h"

namespace mmfuse::runtime {

namespace {

// Rows per program run: batches run in power-of-two pieces up to this (plan_pieces).
constexpr int64_t kLowRankLargestPiece = 64;

class LowRankPlan : public CompiledFusion {
 public:
  explicit LowRankPlan(std::shared_ptr<fusion::LowRankFusionImpl> module)
      : module_(std::move(module)) {
    torch::NoGradGuard no_grad;
    const int64_t rank = module_->options.rank(), out = module_->options.out();
    const auto params = module_->named_parameters(/*recurse=*/true);
    const torch::Tensor w = params["rank_weights"].reshape({rank});  // [rank]
    bias_ = params["bias"].reshape({out}).contiguous().clone();      // [out]
    const auto& dims = module_->options.dims();
    for (std::size_t i = 0; i < dims.size(); ++i) {
      const int64_t d = dims[i];
      torch::Tensor f = params["factors." + std::to_string(i)];  // [rank, D + 1, out]
      if (i == 0) f = f * w.view({rank, 1, 1});
      // row r * out + o of m is F[r, :, o]
      const torch::Tensor m = f.permute({0, 2, 1}).reshape({rank * out, d + 1});
      programs_.push_back(
          inner_product_programs(m.slice(1, 0, d).contiguous().clone(),  // [rank * out, D]
                                 m.select(1, d).contiguous().clone()));  // [rank * out]
      placeholders_.push_back(params["placeholder_" + std::to_string(i)].detach());
    }
  }

  fusion::FusionOutput fuse(const std::vector<nn::Encoded>& inputs) const override {
    const auto& dims = module_->options.dims();
    fusion::check_inputs(fusion::LowRankFusionImpl::kName, inputs, dims);
    const int64_t batch = inputs[0].pooled.size(0);
    for (const auto& e : inputs) {
      if (!e.pooled.device().is_cpu() || e.pooled.scalar_type() != torch::kFloat) {
        return module_->fuse(inputs);  // the module's own paths
      }
    }
    if (batch == 0) return module_->fuse(inputs);
    const int64_t rank = module_->options.rank(), out = module_->options.out();
    const int64_t width = rank * out;
    torch::Tensor prod;  // [B, rank * out]
    for (std::size_t i = 0; i < inputs.size(); ++i) {
      const torch::Tensor z =
          fusion::fill_missing(inputs[i].pooled, inputs[i].present, placeholders_[i]).contiguous();
      torch::Tensor proj = torch::empty({batch, width});
      for (const auto& [b0, n] : plan_pieces(batch, kLowRankLargestPiece)) {  // rows independent
        programs_[i]->get(n).run(z.data_ptr<float>() + b0 * dims[i],
                                 proj.data_ptr<float>() + b0 * width);
      }
      prod = prod.defined() ? prod.mul_(proj) : proj;
    }
    return {prod.view({batch, rank, out}).sum(1).add_(bias_), {}};  // [B, out]
  }

  // Every modality's program is built for the same piece sizes.
  int64_t compiled_shapes() const override { return programs_.front()->size(); }

  std::vector<std::string> implementations() const override {
    std::vector<const DnnlProgramCache*> caches;
    for (const auto& p : programs_) caches.push_back(p.get());
    return plan_implementations(caches);
  }

 private:
  std::shared_ptr<fusion::LowRankFusionImpl> module_;
  std::vector<torch::Tensor> placeholders_;
  torch::Tensor bias_;
  std::vector<std::unique_ptr<DnnlProgramCache>> programs_;
};

}  // namespace

std::unique_ptr<CompiledFusion> compile_low_rank_plan(const fusion::FusionBlock& block) {
  auto module = std::dynamic_pointer_cast<fusion::LowRankFusionImpl>(block.module());
  if (!module) return nullptr;
  for (const auto& p : module->parameters()) {
    if (p.scalar_type() != torch::kFloat || !p.device().is_cpu()) return nullptr;
  }
  return std::make_unique<LowRankPlan>(std::move(module));
}

}  // namespace mmfuse::runtime
