// `mmfuse optimize`: a trained supervised run -> a new run folder with an optimized model (int8
// quantization today; see options.h), loadable by everything that loads runs
// (runtime::load_run), with a report of accuracy, macro F1, latency and size beside the source.
//
// The new run folder holds config.yaml (the source's, plus `quantization: {mode, calib_samples,
// percentile, float_layers, source_run, date}`), dataset.json (copied), model.safetensors (format:
// nn/quant/quantize.h), summary.json ({"optimize": report}) and optimize_report.md (the table).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mmfuse/optimize/calibration.h"
#include "mmfuse/optimize/options.h"

namespace mmfuse::optimize {

/// The figures of one model (fp32 source or optimized).
struct ModelFigures {
  double val_accuracy = 0, val_macro_f1 = 0, test_accuracy = 0, test_macro_f1 = 0;  ///< percent
  double batch1_p50_ms = 0, batch_p50_ms = 0;
  int64_t batch = 0;
  int64_t weights_bytes = 0;  ///< model.safetensors on disk
  nlohmann::json to_json() const;
};

struct OptimizeReport {
  std::string source_run, out_run, target;
  std::string mode;  ///< "static" / "dynamic"
  int64_t calib_samples = 0;
  int threads = 0;
  std::vector<LayerSensitivity> sensitivity;
  std::vector<std::string> quantized;
  std::map<std::string, std::string> float_layers;  ///< name -> why
  std::vector<std::string> weight_only;             ///< float parameters stored int8, weight only
  ModelFigures fp32, optimized;

  nlohmann::json to_json() const;
  /// The side-by-side table and the layer report as Markdown.
  std::string table() const;
};

/// Runs the optimization described by `options` (see the file comment). Throws UsageError for a
/// request without any optimization or an --out that already holds a run, Error for a run that
/// cannot be optimized (not supervised, an ensemble, already quantized, no class target) or a
/// calibration split that is missing; the source run is never modified.
OptimizeReport optimize_run(const OptimizeOptions& options);

}  // namespace mmfuse::optimize
