// What the inference plan's tests share: the tolerance measure, trained-looking BatchNorm
// statistics, and the configs' models and batches.
#pragma once

#include <gtest/gtest.h>

#include <string>

#include "mmfuse/core/config.h"
#include "mmfuse/models/build.h"

namespace mmfuse::runtime {

// Largest |a - b| relative to max(1, max |b|): the plan's tolerance is 1e-5 on that scale.
inline double plan_rel_diff(const torch::Tensor& a, const torch::Tensor& b) {
  EXPECT_EQ(a.sizes(), b.sizes());
  const double scale = std::max(1.0, b.abs().max().item<double>());
  return (a - b).abs().max().item<double>() / scale;
}

// Trained-looking BatchNorm layers: running statistics and affine parameters away from the
// identity, so a wrong fold shows.
inline void randomize_batch_norms(torch::nn::Module& module, uint64_t seed) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(seed);
  for (const auto& m : module.modules()) {
    if (auto* bn = m->as<torch::nn::BatchNorm2d>()) {
      bn->running_mean.uniform_(-0.5, 0.5);
      bn->running_var.uniform_(0.3, 2.0);
      bn->weight.uniform_(0.5, 1.5);
      bn->bias.uniform_(-0.3, 0.3);
    }
  }
}

// A config's inputs; configs/default.yaml takes them from the built-in dataset, so its test
// gives shapes of that kind (an odd number of audio frames).
inline models::ModelInputs plan_test_inputs(const ConfigNode& root) {
  if (root.has("inputs")) return models::ModelInputs::from_config(root["inputs"], root["targets"]);
  return models::ModelInputs::from_config(
      ConfigNode::parse(
          "{image: [1, 28, 28], audio: [1, 40, 61], text: {shape: [-1], vocab: 300}}"),
      ConfigNode::parse("{digit: {type: class, classes: 10}, value: {type: regression, size: 1}}"));
}

inline ConfigNode plan_test_config(const std::string& config) {
  return ConfigNode::load_file(std::string(MMFUSE_SOURCE_DIR) + "/configs/" + config);
}

inline models::MultimodalModel plan_test_model(const std::string& config) {
  const ConfigNode root = plan_test_config(config);
  torch::manual_seed(3);
  models::MultimodalModel model = models::build_model(root["model"], plan_test_inputs(root));
  randomize_batch_norms(*model, 11);
  model->eval();
  return model;
}

inline data::Batch plan_test_batch(const std::string& config, int64_t batch) {
  torch::manual_seed(5 + batch);
  return models::example_batch(plan_test_inputs(plan_test_config(config)), batch, 9);
}

}  // namespace mmfuse::runtime
