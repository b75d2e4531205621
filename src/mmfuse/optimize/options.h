// What `mmfuse optimize` is asked to do. One struct for every optimization step, so that a new
// step (pruning: --prune, --structured, --finetune-epochs) adds its fields here and one call in
// optimize_run (optimize.cpp) without touching the others.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mmfuse/nn/quant/quantize.h"

namespace mmfuse::optimize {

struct OptimizeOptions {
  /// The finished run to optimize (never modified).
  std::string run_dir;
  /// The new run folder (must not hold a run yet).
  std::string out_dir;

  // ------------------------------------------------------------------ int8 quantization
  /// --int8 static|dynamic; unset: no quantization.
  std::optional<nn::quant::QuantMode> int8;
  /// Training samples run through the model to calibrate activation ranges (static).
  int64_t calib_samples = 512;
  /// Activation range: 100 = min/max over the calibration batches; below it, that percentile of
  /// |x| (clips rare outliers).
  double percentile = 100.0;
  /// Sensitivity: a layer whose quantization alone lowers validation accuracy by more than this
  /// many points stays in float32. Negative: no sensitivity pass (every layer quantized).
  double max_layer_drop = 0.3;
  /// Validation samples used by the sensitivity pass (the first ones; 0: all).
  int64_t sensitivity_samples = 1000;
  /// Layers (dotted module names) kept in float32 whatever their sensitivity.
  std::vector<std::string> float_layers;
  /// Also store the other large float parameters as int8, weight only (nn/quant/quantize.h);
  /// false: they stay float32 on disk.
  bool weight_only = true;

  // ------------------------------------------------------------------ measurement
  /// The batched latency figure's batch size (batch 1 is always measured too).
  int64_t batch = 40;
  /// Timed forwards per latency figure (after 10 untimed ones).
  int64_t latency_steps = 50;
  /// Samples per evaluation batch and loader threads.
  int64_t eval_batch = 256;
  int threads = 2;
};

}  // namespace mmfuse::optimize
