// `mmfuse export --run RUN_DIR --onnx OUT.onnx [--opset 13]`: a trained supervised run as an ONNX
// model for ONNX Runtime, OpenVINO or TensorRT (docs/DEPLOY.md). The run is only read.
// `--config C` instead of `--run` exports a config's seeded, untrained model (bench/compare.sh).
#include <iostream>

#include "mmfuse/core/error.h"
#include "mmfuse/export/onnx_export.h"
#include "mmfuse/tools/cli.h"

namespace mmfuse::tools {

void add_export_commands(CLI::App& app) {
  struct Args {
    std::string run;
    std::string config;
    std::string onnx;
    int64_t opset = 13;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("export", "Export a trained run as an ONNX model");
  auto* run = cmd->add_option("--run", args->run, "Run directory (written by `mmfuse train`)");
  auto* config = cmd->add_option(
      "--config", args->config,
      "Instead of a run: a config with inputs/targets/model sections, seeded initial weights "
      "(for latency comparisons)");
  run->excludes(config);
  config->excludes(run);
  cmd->add_option("--onnx", args->onnx, "Output .onnx file (its folder must exist)")->required();
  cmd->add_option("--opset", args->opset, "ONNX opset of the graph (13 to 17)");
  cmd->callback([args] {
    onnx_export::OnnxExportOptions options;
    options.opset = args->opset;
    if (args->run.empty() == args->config.empty()) {
      throw UsageError("export needs --run RUN_DIR (or --config CONFIG)");
    }
    auto result = args->run.empty() ? onnx_export::export_config(args->config, args->onnx, options)
                                    : onnx_export::export_run(args->run, args->onnx, options);
    std::cout << "wrote " << args->onnx << " (opset " << options.opset << ", " << result.nodes
              << " nodes, " << result.bytes.size() << " bytes)\n";
    for (const auto& v : result.inputs)
      std::cout << "  input  " << onnx_export::describe(v) << "\n";
    for (const auto& v : result.outputs)
      std::cout << "  output " << onnx_export::describe(v) << "\n";
  });
}

}  // namespace mmfuse::tools
