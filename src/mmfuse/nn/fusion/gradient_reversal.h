// Gradient reversal layer (Ganin & Lempitsky 2015): identity forward, -lambda * grad backward.
#pragma once

#include <torch/torch.h>

namespace mmfuse::fusion {

class GradientReversal : public torch::autograd::Function<GradientReversal> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               double lambda) {
    ctx->saved_data["lambda"] = lambda;
    return x.clone();
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad) {
    const double lambda = ctx->saved_data["lambda"].toDouble();
    return {grad[0] * -lambda, torch::Tensor()};
  }
};

/// x: any shape -> x (same values); the gradient flowing back through it is multiplied by -lambda.
inline torch::Tensor gradient_reversal(const torch::Tensor& x, double lambda = 1.0) {
  return GradientReversal::apply(x, lambda);
}

}  // namespace mmfuse::fusion
