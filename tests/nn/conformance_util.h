// Checks shared by the conformance suites of the block families (dlib-style: one generic checker
// run over every registered block). Family-agnostic: they see only the torch module.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <limits>
#include <map>
#include <memory>
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

/// max |a_i - b_i| over the pairs of two output lists (infinity when their counts differ).
inline double max_abs_diff(const std::vector<torch::Tensor>& a,
                           const std::vector<torch::Tensor>& b) {
  if (a.size() != b.size()) return std::numeric_limits<double>::infinity();
  double m = 0.0;
  for (std::size_t i = 0; i < a.size(); ++i) m = std::max(m, max_abs_diff(a[i], b[i]));
  return m;
}

/// Runs `check` on every recipe of block `name` (each under a trace of its label); fails the
/// calling test when there is none, so a newly registered block cannot escape its family's suite.
template <class Recipe>
void for_each_recipe(const std::map<std::string, std::vector<Recipe>>& recipes,
                     const std::string& name, const std::string& suite_file,
                     const std::function<void(const Recipe&)>& check) {
  auto it = recipes.find(name);
  if (it == recipes.end() || it->second.empty()) {
    ADD_FAILURE() << "'" << name << "' has no recipe in " << suite_file << "; add one there";
    return;
  }
  for (const auto& r : it->second) {
    SCOPED_TRACE(r.label);
    check(r);
  }
}

/// One block configuration as the generic checks see it; each family's suite fills it in.
struct Subject {
  using ModulePtr = std::shared_ptr<torch::nn::Module>;
  /// A new block, built right after torch::manual_seed(seed).
  std::function<ModulePtr(uint64_t seed)> build;
  /// The block's outputs (undefined ones allowed) on a batch of `batch` samples drawn right after
  /// torch::manual_seed(seed), in the block's current train/eval mode.
  std::function<std::vector<torch::Tensor>(const ModulePtr&, int64_t batch, uint64_t seed)> run;

  /// Outputs in eval mode, without autograd.
  std::vector<torch::Tensor> eval(const ModulePtr& block, int64_t batch, uint64_t seed) const {
    torch::NoGradGuard no_grad;
    block->eval();
    return run(block, batch, seed);
  }
};

/// In train mode, a random weighting of all outputs back-propagates a non-zero gradient into
/// every parameter (a plain sum could vanish by symmetry, e.g. after a normalisation).
inline void check_every_parameter_gets_a_gradient(const Subject& s) {
  auto block = s.build(3);
  block->train();
  auto outputs = s.run(block, 4, 4);
  torch::manual_seed(5);
  auto loss = torch::zeros({});
  for (const auto& t : outputs) {
    if (!t.defined()) continue;
    EXPECT_TRUE(torch::isfinite(t).all().item<bool>());
    loss = loss + (t * torch::randn_like(t)).sum();
  }
  if (block->parameters().empty()) return;
  loss.backward();
  std::vector<std::string> missing;
  for (const auto& p : block->named_parameters()) {
    const auto& g = p.value().grad();
    if (!g.defined() || g.abs().sum().item<double>() == 0.0) missing.push_back(p.key());
  }
  EXPECT_TRUE(missing.empty()) << "no gradient for " << ::testing::PrintToString(missing);
}

/// The same seeds for construction and input give identical outputs.
inline void check_same_seed_same_output(const Subject& s) {
  EXPECT_EQ(max_abs_diff(s.eval(s.build(5), 3, 6), s.eval(s.build(5), 3, 6)), 0.0);
}

/// A clone starts equal, shares no parameter storage, and changing it leaves the original alone.
inline void check_clone_is_independent(const Subject& s) {
  auto original = s.build(7);
  auto before = s.eval(original, 3, 8);
  auto copy = original->clone();
  EXPECT_EQ(max_abs_diff(s.eval(copy, 3, 8), before), 0.0);
  for (const auto& pa : original->parameters()) {
    for (const auto& pb : copy->parameters()) {
      EXPECT_NE(pa.data_ptr(), pb.data_ptr()) << "the clone shares a parameter's storage";
    }
  }
  {
    torch::NoGradGuard no_grad;
    for (auto& p : copy->parameters()) p.add_(0.5);
  }
  EXPECT_EQ(max_abs_diff(s.eval(original, 3, 8), before), 0.0);
  if (!copy->parameters().empty()) {
    EXPECT_GT(max_abs_diff(s.eval(copy, 3, 8), before), 1e-4)
        << "perturbing the clone's parameters should change the clone's output";
  }
}

/// torch::save then torch::load into a block built with another seed reproduces the outputs,
/// including BatchNorm statistics moved by train-mode passes.
inline void check_save_load_round_trip(const Subject& s) {
  auto saved = s.build(9);
  saved->train();
  for (uint64_t i = 0; i < 2; ++i) {
    torch::NoGradGuard no_grad;
    s.run(saved, 4, 20 + i);
  }
  auto expected = s.eval(saved, 3, 10);
  auto fresh = s.build(99);
  if (!saved->parameters().empty()) {
    EXPECT_GT(max_abs_diff(s.eval(fresh, 3, 10), expected), 1e-6)
        << "another seed should give another block";
  }
  std::stringstream stream;
  torch::save(saved, stream);
  torch::load(fresh, stream);
  EXPECT_EQ(max_abs_diff(s.eval(fresh, 3, 10), expected), 0.0);
}

}  // namespace mmfuse::testing
