// Plan compiler of the `mlp` head (nn/heads/mlp.h): Linear -> ReLU -> [Dropout] -> Linear as two
// oneDNN inner products, ReLU a post-op of the first, the hidden layer in a buffer allocated once
// (Dropout is the identity in eval mode). A batch runs in power-of-two pieces (plan_pieces).
#include <oneapi/dnnl/dnnl.hpp>

#include "mmfuse/nn/heads/mlp.h"
#include "mmfuse/runtime/plan_compilers.h"
#include "mmfuse/runtime/plan_dnnl.h"
#include "mmfuse/runtime/plan_mlp_head.h"

namespace mmfuse::runtime {

namespace {

// Rows per program run: batches run in power-of-two pieces up to this (plan_pieces).
constexpr int64_t kMlpLargestPiece = 256;

class MlpHeadPlan : public CompiledHead {
 public:
  MlpHeadPlan(std::shared_ptr<heads::MlpHeadImpl> head, DnnlProgramCache::Build build)
      : head_(std::move(head)), programs_(std::move(build)) {}

  torch::Tensor predict(const torch::Tensor& z) const override {
    if (z.dim() != 2 || z.size(0) == 0 || z.size(1) != head_->options.in_dim() ||
        !z.device().is_cpu() || z.scalar_type() != torch::kFloat) {
      return head_->predict(z);  // the module's own checks and paths
    }
    const torch::Tensor src = z.contiguous();
    torch::Tensor y = torch::empty({z.size(0), head_->options.out_dim()});  // [B, K]
    const int64_t in_step = src.size(1), out_step = y.size(1);
    for (const auto& [b0, n] : plan_pieces(z.size(0), kMlpLargestPiece)) {  // rows independent
      programs_.get(n).run(src.data_ptr<float>() + b0 * in_step,
                           y.data_ptr<float>() + b0 * out_step);
    }
    return y;
  }

  int64_t compiled_shapes() const override { return programs_.size(); }
  std::vector<std::string> implementations() const override { return programs_.implementations(); }

 private:
  std::shared_ptr<heads::MlpHeadImpl> head_;
  DnnlProgramCache programs_;
};

// The float32 program: two inner products, ReLU a post-op of the first.
std::unique_ptr<DnnlProgram> build_float_mlp(const std::vector<torch::Tensor>& weights,
                                             const std::vector<torch::Tensor>& biases,
                                             int64_t batch) {
  auto p = std::make_unique<DnnlProgram>();
  const int64_t in = weights[0].size(1), hidden = weights[0].size(0), out = weights[1].size(0);
  p->input = plan_rows_desc(batch, in);
  p->output = plan_rows_desc(batch, out);
  const int hidden_slot = p->add_buffer(plan_rows_desc(batch, hidden));
  add_inner_product(*p, weights[0], biases[0], batch, kPlanInput, hidden_slot, /*relu=*/true);
  add_inner_product(*p, weights[1], biases[1], batch, hidden_slot, kPlanOutput, false);
  return p;
}

}  // namespace

std::unique_ptr<CompiledHead> make_mlp_head_plan(std::shared_ptr<heads::MlpHeadImpl> head,
                                                 DnnlProgramCache::Build build) {
  return std::make_unique<MlpHeadPlan>(std::move(head), std::move(build));
}

std::unique_ptr<CompiledHead> compile_mlp_head_plan(const heads::HeadBlock& block) {
  auto head = std::dynamic_pointer_cast<heads::MlpHeadImpl>(block.module());
  if (!head || !head->net) return nullptr;
  for (const auto& p : head->parameters()) {
    if (p.scalar_type() != torch::kFloat || !p.device().is_cpu()) return nullptr;
  }
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> weights, biases;
  for (const auto& m : head->net->children()) {
    if (auto* linear = m->as<torch::nn::Linear>()) {
      weights.push_back(linear->weight.contiguous().clone());  // [out, in]
      biases.push_back(linear->bias.defined() ? linear->bias.contiguous().clone()
                                              : torch::Tensor());
    }
  }
  if (weights.size() != 2 || !biases[0].defined() || !biases[1].defined()) return nullptr;
  return make_mlp_head_plan(std::move(head), [weights, biases](int64_t batch) {
    return build_float_mlp(weights, biases, batch);
  });
}

}  // namespace mmfuse::runtime
