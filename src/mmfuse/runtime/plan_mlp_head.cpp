// Plan compiler of the `mlp` head (nn/heads/mlp.h): Linear -> ReLU -> [Dropout] -> Linear as two
// oneDNN inner products, ReLU a post-op of the first, the hidden layer in a buffer allocated once
// (Dropout is the identity in eval mode). A batch runs in power-of-two pieces (plan_pieces).
#include <oneapi/dnnl/dnnl.hpp>

#include "mmfuse/nn/heads/mlp.h"
#include "mmfuse/runtime/plan_compilers.h"
#include "mmfuse/runtime/plan_dnnl.h"

namespace mmfuse::runtime {

namespace {

// Rows per program run: batches run in power-of-two pieces up to this (plan_pieces).
constexpr int64_t kMlpLargestPiece = 256;

class MlpHeadPlan : public CompiledHead {
 public:
  explicit MlpHeadPlan(std::shared_ptr<heads::MlpHeadImpl> head)
      : head_(std::move(head)), programs_([this](int64_t batch) { return build(batch); }) {
    torch::NoGradGuard no_grad;
    for (const auto& m : head_->net->children()) {
      if (auto* linear = m->as<torch::nn::Linear>()) {
        weights_.push_back(linear->weight.contiguous().clone());  // [out, in]
        biases_.push_back(linear->bias.contiguous().clone());     // [out]
      }
    }
  }

  bool usable() const {
    return weights_.size() == 2 && biases_[0].defined() && biases_[1].defined();
  }

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
  std::unique_ptr<DnnlProgram> build(int64_t batch) const {
    auto p = std::make_unique<DnnlProgram>();
    const int64_t in = weights_[0].size(1), hidden = weights_[0].size(0);
    const int64_t out = weights_[1].size(0);
    p->input = plan_rows_desc(batch, in);
    p->output = plan_rows_desc(batch, out);
    const int hidden_slot = p->add_buffer(plan_rows_desc(batch, hidden));
    add_inner_product(*p, weights_[0], biases_[0], batch, kPlanInput, hidden_slot, /*relu=*/true);
    add_inner_product(*p, weights_[1], biases_[1], batch, hidden_slot, kPlanOutput, false);
    return p;
  }

  std::shared_ptr<heads::MlpHeadImpl> head_;
  std::vector<torch::Tensor> weights_, biases_;
  DnnlProgramCache programs_;
};

}  // namespace

std::unique_ptr<CompiledHead> compile_mlp_head_plan(const heads::HeadBlock& block) {
  auto head = std::dynamic_pointer_cast<heads::MlpHeadImpl>(block.module());
  if (!head || !head->net) return nullptr;
  for (const auto& p : head->parameters()) {
    if (p.scalar_type() != torch::kFloat || !p.device().is_cpu()) return nullptr;
  }
  auto plan = std::make_unique<MlpHeadPlan>(std::move(head));
  if (!plan->usable()) return nullptr;
  return plan;
}

}  // namespace mmfuse::runtime
