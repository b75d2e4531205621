// Running exported models in ONNX Runtime from the tests: the npm package onnxruntime-node
// installed into the build (scripts/install_onnxruntime.sh, the ctest fixture `onnxruntime`) and
// tests/export/ort_run.js, fed and read through JSON files.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "test_util.h"

namespace mmfuse::testing {

inline std::string ort_modules_dir() {
  return std::string(MMFUSE_ORT_DIR) + "/node_modules";
}

/// "" when node and onnxruntime-node are there (installing the package once if needed), else
/// what is missing.
inline std::string missing_onnxruntime() {
  static const std::string missing = [] {
    if (run_command("node --version").exit_code != 0) {
      return std::string("node is not installed (apt-get install nodejs)");
    }
    const std::string pkg = ort_modules_dir() + "/onnxruntime-node/package.json";
    if (!std::filesystem::exists(pkg)) {
      run_command(std::string(MMFUSE_SOURCE_DIR) + "/scripts/install_onnxruntime.sh " +
                  MMFUSE_ORT_DIR);
    }
    return std::filesystem::exists(pkg)
               ? std::string()
               : "the npm package onnxruntime-node could not be installed into " +
                     std::string(MMFUSE_ORT_DIR) + " (scripts/install_onnxruntime.sh)";
  }();
  return missing;
}

#define MMFUSE_REQUIRE_ONNXRUNTIME() MMFUSE_REQUIRE(::mmfuse::testing::missing_onnxruntime())

using TensorMap = std::map<std::string, torch::Tensor>;

/// One model run: the .onnx file and its named inputs (float32 or int64 tensors).
struct OrtRun {
  std::string model;
  TensorMap inputs;
};

inline nlohmann::json tensor_to_json(const torch::Tensor& t) {
  auto c = t.contiguous();
  nlohmann::json j;
  j["dims"] = c.sizes().vec();
  if (c.scalar_type() == torch::kInt64) {
    j["type"] = "int64";
    j["data"] = std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
  } else {
    c = c.to(torch::kFloat);
    j["type"] = "float32";
    j["data"] = std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  }
  return j;
}

/// Runs every `runs` entry in one node process; returns each run's outputs by name. A failure
/// (bad model, node error) is reported with ADD_FAILURE and gives an empty list.
inline std::vector<TensorMap> run_onnxruntime(const std::vector<OrtRun>& runs,
                                              const std::string& work_dir) {
  nlohmann::json request;
  request["runs"] = nlohmann::json::array();
  for (const auto& r : runs) {
    nlohmann::json inputs = nlohmann::json::object();
    for (const auto& [name, t] : r.inputs) inputs[name] = tensor_to_json(t);
    request["runs"].push_back({{"model", r.model}, {"inputs", inputs}});
  }
  const std::string in = work_dir + "/ort_in.json", out = work_dir + "/ort_out.json";
  std::ofstream(in) << request.dump();
  auto res = run_command("NODE_PATH=" + ort_modules_dir() + " node " + MMFUSE_SOURCE_DIR +
                         "/tests/export/ort_run.js " + in + " " + out);
  if (res.exit_code != 0) {
    ADD_FAILURE() << "ort_run.js failed: " << res.output;
    return {};
  }
  std::ifstream f(out);
  auto reply = nlohmann::json::parse(f);
  std::vector<TensorMap> outputs;
  for (const auto& r : reply["runs"]) {
    TensorMap m;
    for (const auto& [name, t] : r["outputs"].items()) {
      auto data = t["data"].get<std::vector<float>>();
      m[name] = torch::tensor(data).reshape(t["dims"].get<std::vector<int64_t>>());
    }
    outputs.push_back(m);
  }
  return outputs;
}

/// max |a - b| (infinity when the shapes differ).
inline double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  if (!a.defined() || !b.defined() || a.sizes() != b.sizes()) return INFINITY;
  return (a.to(torch::kFloat) - b.to(torch::kFloat)).abs().max().item<double>();
}

}  // namespace mmfuse::testing
