// `mmfuse summary --config C`: the model tree with parameter counts and forward FLOPs per sample.
#include <iostream>

#include "mmfuse/core/config.h"
#include "mmfuse/models/build.h"
#include "mmfuse/models/summary.h"
#include "mmfuse/tools/cli.h"

namespace mmfuse::tools {

void add_summary_commands(CLI::App& app) {
  struct Args {
    std::string config;
    std::vector<std::string> overrides;
    int depth = -1;
    int64_t seq_len = 32;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "summary", "Print a model's module tree, parameter counts and forward FLOPs per sample");
  cmd->add_option("-c,--config", args->config,
                  "Config with `inputs:`, `targets:` and `model:` sections")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--set", args->overrides, "Override a config value: key.path=value");
  cmd->add_option("--depth", args->depth, "Show modules down to this depth (-1: all)");
  cmd->add_option("--seq-len", args->seq_len, "Length used for variable-length inputs")
      ->check(CLI::PositiveNumber);
  cmd->callback([args] {
    ConfigNode root = ConfigNode::load_file(args->config);
    for (const auto& o : args->overrides) root.set_override(o);
    models::ModelInputs inputs;
    models::MultimodalModel model = models::build_model_from_config(root, {}, &inputs);
    auto summary = models::summarize_model(model, inputs, args->seq_len);
    std::cout << "inputs: " << inputs.describe_modalities() << "\n"
              << models::format_summary(summary, args->depth);
  });
}

}  // namespace mmfuse::tools
