// Parity with a reference (peer) implementation: load the peer's exported weights into an mmfuse
// model through a name mapping, run the peer's exported inputs, and compare the outputs.
//
//   parity:
//     rename: [[img., encoders.image.], [head., heads.digit.net.], ["", fusion.]]
//     keep_initialized: [fusion.placeholder_]  # mmfuse tensors the peer lacks (optional)
//     inputs: {image: image, audio: audio}     # io tensor -> modality
//     outputs: {logits: digit}                 # io tensor -> head (target)
//     tolerance: 1.0e-4                        # max |diff| allowed per output
#pragma once

#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "mmfuse/core/config.h"
#include "mmfuse/core/modality.h"
#include "mmfuse/core/safetensors.h"
#include "mmfuse/models/model.h"

namespace mmfuse::models {

struct ParitySpec {
  /// Prefix rules (from, to): a peer name starting with `from` gets it replaced by `to`; the first
  /// matching rule wins; names no rule matches are kept as they are. An empty `from` matches all.
  std::vector<std::pair<std::string, std::string>> rename;
  /// mmfuse name prefixes allowed to stay unfilled (e.g. placeholders for absent modalities).
  std::vector<std::string> keep_initialized;
  std::map<std::string, Modality> inputs;      ///< io tensor -> modality
  std::map<std::string, std::string> outputs;  ///< io tensor -> target (head)
  double tolerance = 1e-4;

  /// From a config's `parity:` section; throws ConfigError naming the path of a bad entry.
  static ParitySpec from_config(const ConfigNode& parity);
};

/// The rename function of `rules` (see ParitySpec::rename).
std::function<std::string(const std::string&)> prefix_renamer(
    std::vector<std::pair<std::string, std::string>> rules);

struct ParityResult {
  ModuleLoadReport load;
  /// max |mmfuse - peer| per output tensor name.
  std::map<std::string, double> max_abs_diff;
  double tolerance = 0;
  bool ok() const;
};

/// Loads `weights` into `model` strictly through spec.rename (one Error listing every missing,
/// unused or mis-shaped tensor otherwise), runs the inputs of `io` in eval mode without gradients
/// on `device`, and measures each output against `io`. Throws Error (naming the file) when `io`
/// lacks a tensor the spec names or an output's shape differs.
ParityResult check_parity(MultimodalModel& model, const ParitySpec& spec,
                          const std::string& weights, const std::string& io,
                          const torch::Device& device = torch::kCPU);

}  // namespace mmfuse::models
