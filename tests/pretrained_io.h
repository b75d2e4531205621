// The PyTorch reference of the pretrained networks in ../shared/pretrained: `reference.py
// export-io` (inputs, features, logits, YAMNet patches, embeddings and scores), run once per test
// process. Callers check MMFUSE_REQUIRE(missing_pretrained_reference()) first.
#pragma once

#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>

#include <torch/torch.h>

#include "mmfuse/core/safetensors.h"
#include "test_util.h"

namespace mmfuse::testing {

/// The tensors of `reference.py export-io` by name (mobilenet.input, mobilenet_same.logits,
/// yamnet.patches, ...). Throws with the script's output when it fails.
inline const std::map<std::string, torch::Tensor>& reference_io() {
  static const std::map<std::string, torch::Tensor> io = [] {
    const auto dir = std::filesystem::temp_directory_path() /
                     ("mmfuse-reference-io-" + std::to_string(::getpid()));
    const auto r = run_command("/usr/bin/python3 " + pretrained_dir() + "/reference.py export-io " +
                               dir.string());
    if (r.exit_code != 0) throw std::runtime_error("reference.py export-io failed:\n" + r.output);
    auto tensors = load_safetensors((dir / "io.safetensors").string()).tensors;
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    return tensors;
  }();
  return io;
}

/// One tensor of reference_io(); throws naming it when the export lacks it.
inline torch::Tensor reference_tensor(const std::string& name) {
  const auto& io = reference_io();
  auto it = io.find(name);
  if (it == io.end()) throw std::runtime_error("reference.py export-io gave no " + name);
  return it->second;
}

}  // namespace mmfuse::testing
