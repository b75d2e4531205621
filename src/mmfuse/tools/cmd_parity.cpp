// `mmfuse parity --config C --weights W --io IO`: loads a peer's exported weights into the model
// the config describes (through the config's `parity:` rename rules), runs the exported inputs and
// prints max |diff| per output; exits 1 when any is above the tolerance.
#include <cstdio>
#include <iostream>

#include "mmfuse/core/config.h"
#include "mmfuse/core/error.h"
#include "mmfuse/models/build.h"
#include "mmfuse/models/parity.h"
#include "mmfuse/tools/cli.h"

namespace mmfuse::tools {

void add_parity_commands(CLI::App& app) {
  struct Args {
    std::string config, weights, io, device = "cpu";
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "parity", "Compare a model with a reference implementation's exported weights and outputs");
  cmd->add_option("-c,--config", args->config, "Config with inputs, targets, model and parity")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--weights", args->weights, "Peer weights (safetensors)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--io", args->io, "Peer inputs and outputs (safetensors)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--device", args->device, "Device to run on (cpu, cuda, cuda:1)");
  cmd->callback([args] {
    ConfigNode root = ConfigNode::load_file(args->config);
    models::ParitySpec spec = models::ParitySpec::from_config(root["parity"]);
    models::MultimodalModel model = models::build_model_from_config(root);
    torch::Device device(args->device);
    auto result = models::check_parity(model, spec, args->weights, args->io, device);
    std::cout << "loaded " << result.load.loaded.size() << " tensors from " << args->weights
              << "\n";
    for (const auto& [name, d] : result.max_abs_diff) {
      char line[160];
      std::snprintf(line, sizeof line, "%s: max |diff| %.3g (tolerance %.3g) %s\n", name.c_str(), d,
                    result.tolerance, d <= result.tolerance ? "ok" : "FAIL");
      std::cout << line;
    }
    if (!result.ok()) throw Error("parity failed: outputs differ from the peer above tolerance");
  });
}

}  // namespace mmfuse::tools
