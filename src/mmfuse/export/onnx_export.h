// ONNX export of a supervised model (`mmfuse export --run RUN_DIR --onnx OUT.onnx`).
//
// The graph (opset 13..17, dynamic batch dimension "batch"):
//   inputs   one per modality the model encodes, named like the modality ("image", "audio",
//            "text", "tabular"), with the item shape the run's Predictor collates after
//            preprocessing: float32 [batch, ...] features, or int64 [batch, T] token ids; token
//            ids and other variable-length items come with "<modality>_lengths" int64 [batch]
//            (valid steps per row, as the Predictor's batch gives them). Every modality must
//            be given (the module path's learned placeholders for absent ones are not exported).
//   outputs  one per head, named like its target: float32 [batch, K] logits (classification,
//            multilabel), values (regression) or unit-norm embeddings.
// Each block is written by its registered exporter (exporters.h); a block without one fails
// naming its config path. The run is only read.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mmfuse/core/config.h"
#include "mmfuse/models/inputs.h"
#include "mmfuse/models/model.h"

namespace mmfuse::onnx_export {

struct OnnxExportOptions {
  /// Default-domain opset (13..17).
  int64_t opset = 13;
};

/// One graph input or output.
struct OnnxValueInfo {
  std::string name;
  bool int64 = false;         ///< int64 (token ids, lengths) rather than float32
  std::vector<int64_t> dims;  ///< -1 = symbolic (the batch, variable lengths)
};

struct OnnxExport {
  std::string bytes;  ///< the serialized ModelProto
  std::vector<OnnxValueInfo> inputs, outputs;
  int64_t nodes = 0;
};

/// Exports `model` (eval mode; built from `model_cfg`, the config's `model:` section, for data
/// described by `inputs`). Throws ConfigError naming the config path of a block that cannot be
/// exported.
OnnxExport export_model(models::MultimodalModelImpl& model, const ConfigNode& model_cfg,
                        const models::ModelInputs& inputs, const OnnxExportOptions& options = {});

/// Loads the run at `run_dir` (a supervised run), exports it and writes `out_path` atomically.
/// Throws Error for a folder that is not a finished run, a retrieval/translation run, a missing
/// output folder, or any block that cannot be exported; nothing in the run is written.
OnnxExport export_run(const std::string& run_dir, const std::string& out_path,
                      const OnnxExportOptions& options = {});

/// Builds the model of a config with `inputs:`, `targets:` and `model:` sections (seeded
/// initial weights, as `mmfuse bench --config` and `summary` do), exports it and writes
/// `out_path` atomically: the graph of an untrained model, for latency comparisons.
OnnxExport export_config(const std::string& config_path, const std::string& out_path,
                         const OnnxExportOptions& options = {});

/// "image float32 [batch, 1, 28, 28]" for messages and the CLI.
std::string describe(const OnnxValueInfo& v);

}  // namespace mmfuse::onnx_export
