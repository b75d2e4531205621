// `mmfuse export --run RUN_DIR --onnx OUT.onnx [--opset 13]`: a trained supervised run as an ONNX
// model for ONNX Runtime, OpenVINO or TensorRT (docs/DEPLOY.md). The run is only read.
#include <iostream>

#include "mmfuse/export/onnx_export.h"
#include "mmfuse/tools/cli.h"

namespace mmfuse::tools {

void add_export_commands(CLI::App& app) {
  struct Args {
    std::string run;
    std::string onnx;
    int64_t opset = 13;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("export", "Export a trained run as an ONNX model");
  cmd->add_option("--run", args->run, "Run directory (written by `mmfuse train`)")->required();
  cmd->add_option("--onnx", args->onnx, "Output .onnx file (its folder must exist)")->required();
  cmd->add_option("--opset", args->opset, "ONNX opset of the graph (13 to 17)");
  cmd->callback([args] {
    onnx_export::OnnxExportOptions options;
    options.opset = args->opset;
    auto result = onnx_export::export_run(args->run, args->onnx, options);
    std::cout << "wrote " << args->onnx << " (opset " << options.opset << ", " << result.nodes
              << " nodes, " << result.bytes.size() << " bytes)\n";
    for (const auto& v : result.inputs)
      std::cout << "  input  " << onnx_export::describe(v) << "\n";
    for (const auto& v : result.outputs)
      std::cout << "  output " << onnx_export::describe(v) << "\n";
  });
}

}  // namespace mmfuse::tools
