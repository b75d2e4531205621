// Checks shared by the conformance suites of the block families (dlib-style: one generic checker
// run over every registered block). Family-agnostic: they see only the torch module.
#pragma once

#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "mmfuse/core/config.h"

namespace mmfuse::testing {

/// A block config from YAML text (`type: lstm\nhidden_size: 8`), rooted at path `block`.
inline ConfigNode block_config(const std::string& yaml) {
  return ConfigNode(ConfigNode::parse(yaml.empty() ? "{}" : yaml).yaml(), "block", "<recipe>");
}

/// max |a - b| (infinity when the shapes differ or one is undefined while the other is not).
inline double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  if (a.defined() != b.defined()) return std::numeric_limits<double>::infinity();
  if (!a.defined()) return 0.0;
  if (a.sizes() != b.sizes()) return std::numeric_limits<double>::infinity();
  if (a.numel() == 0) return 0.0;
  return (a.to(torch::kDouble) - b.to(torch::kDouble)).abs().max().item<double>();
}

/// Names of the parameters whose gradient is missing or all zero after a backward pass.
inline std::vector<std::string> parameters_without_gradient(const torch::nn::Module& module) {
  std::vector<std::string> missing;
  for (const auto& p : module.named_parameters()) {
    const auto& g = p.value().grad();
    if (!g.defined() || g.abs().sum().item<double>() == 0.0) missing.push_back(p.key());
  }
  return missing;
}

/// Adds 0.5 to every parameter (in place, without autograd).
inline void perturb_parameters(torch::nn::Module& module) {
  torch::NoGradGuard no_grad;
  for (auto& p : module.parameters()) p.add_(0.5);
}

/// Whether any parameter of `a` shares storage with one of `b`.
inline bool shares_parameter_storage(const torch::nn::Module& a, const torch::nn::Module& b) {
  for (const auto& pa : a.parameters()) {
    for (const auto& pb : b.parameters()) {
      if (pa.data_ptr() == pb.data_ptr()) return true;
    }
  }
  return false;
}

/// Saves `from` with torch::save and loads it into `into` with torch::load (in memory).
inline void save_then_load(const std::shared_ptr<torch::nn::Module>& from,
                           const std::shared_ptr<torch::nn::Module>& into) {
  std::stringstream stream;
  torch::save(from, stream);
  torch::load(into, stream);
}

/// Random weights for a weighted sum, so that no gradient vanishes by symmetry (a plain sum of a
/// normalised output has zero gradient).
inline torch::Tensor weighted_sum(const torch::Tensor& t) {
  if (!t.defined()) return torch::zeros({});
  return (t * torch::randn_like(t)).sum();
}

}  // namespace mmfuse::testing
