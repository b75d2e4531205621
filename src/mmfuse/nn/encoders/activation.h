// Activations selectable from config by the feed-forward encoders (mlp, embedding_bag).
#pragma once

#include <torch/torch.h>

#include "mmfuse/nn/encoders/config_enum.h"

namespace mmfuse::encoders {

enum class Activation { none, relu, tanh, gelu };

/// The one string table of Activation.
inline const EnumNames<Activation>& activation_names() {
  static const EnumNames<Activation> names = {{Activation::none, "none"},
                                              {Activation::relu, "relu"},
                                              {Activation::tanh, "tanh"},
                                              {Activation::gelu, "gelu"}};
  return names;
}

/// x -> activation(x), elementwise (none: x).
inline torch::Tensor activate(const torch::Tensor& x, Activation a) {
  switch (a) {
    case Activation::relu:
      return torch::relu(x);
    case Activation::tanh:
      return torch::tanh(x);
    case Activation::gelu:
      return torch::gelu(x);
    default:
      return x;
  }
}

/// Appends the activation as a module to `seq`; returns false (appending nothing) for none.
inline bool push_activation(torch::nn::Sequential& seq, Activation a) {
  switch (a) {
    case Activation::relu:
      seq->push_back(torch::nn::ReLU());
      return true;
    case Activation::tanh:
      seq->push_back(torch::nn::Tanh());
      return true;
    case Activation::gelu:
      seq->push_back(torch::nn::GELU());
      return true;
    default:
      return false;
  }
}

}  // namespace mmfuse::encoders
