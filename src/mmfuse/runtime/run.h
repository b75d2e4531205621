// A trained run directory loaded for inference, whatever its task: the runtime's model state
// (loaded once, read-only afterwards; Triton's "ModelState").
//
// A run directory (written by train/trainer.h) holds:
//   config.yaml           the resolved config (overrides applied, data path absolute)
//   dataset.json          fitted preprocessing (pipelines, label maps)
//   model.safetensors     the selected weights, loadable from Python
//   checkpoints/          last.safetensors (resumable state), best.safetensors
//   metrics.jsonl, summary.json, report.html
// A run written by `mmfuse optimize --int8` has a `quantization:` section in its config and int8
// layers in model.safetensors (nn/quant/quantize.h); it loads the same way.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "mmfuse/core/config.h"
#include "mmfuse/data/dataset.h"
#include "mmfuse/models/task.h"
#include "mmfuse/nn/dnnl_gemm.h"
#include "mmfuse/nn/quant/quantize.h"
#include "mmfuse/runtime/plan.h"

namespace mmfuse::runtime {

struct RunLoadOptions {
  /// Weights file inside the run directory.
  std::string weights = "model.safetensors";
  /// Device the model is moved to.
  torch::Device device = torch::kCPU;
  /// Run Linear and matrix products on oneDNN (nn/dnnl_gemm.h) while the run is loaded, as the
  /// command line does: LibTorch's aten::mm/addmm CPU kernels are replaced process-wide (results
  /// equal within float rounding) until the last holder is gone. false: keep LibTorch's.
  bool onednn_gemm = true;
  /// Compile a supervised run's model into an inference plan (runtime/plan.h: fused oneDNN
  /// primitives, same outputs within 1e-5) that the Predictor runs; false: the module path (A/B).
  bool inference_plan = true;
  /// Memoize the encoders a supervised or retrieval run kept frozen for its whole training
  /// (runtime/frozen_memo.h: rows kept in the run's frozen-feature cache folder), for commands
  /// that pass over files other runs over the same pretrained encoder read too (`mmfuse eval`).
  bool frozen_memo = false;
  /// Caps the dataset's RAM feature cache (bytes; from a memory budget). Unset: the spec's own.
  std::optional<int64_t> ram_cache_cap_bytes;
};

/// A loaded run. Everything in it is read-only after load_run: several threads may use one Run
/// at once (the model stays in eval mode; nothing switches it).
struct Run {
  std::string dir;
  ConfigNode config;
  models::TaskSpec task;
  std::shared_ptr<const data::Dataset> dataset;
  models::TaskModel model;  ///< selected weights, eval mode, on `device`
  torch::Device device = torch::kCPU;
  std::string weights_file;  ///< path of the weights loaded
  std::string model_hash;    ///< content hash of the weights file (indexes record it)
  nlohmann::json summary;    ///< summary.json when present, else {}
  std::string class_target;  ///< first class target ("" without one)
  std::shared_ptr<const nn::DnnlGemm> gemm;  ///< held while the run lives (onednn_gemm)
  /// The int8 layers of a quantized run (null for float runs), hooked while the run lives.
  std::shared_ptr<const nn::quant::QuantizedModel> quantized;
  /// The compiled model of a supervised run on the CPU (RunLoadOptions::inference_plan), or null.
  std::shared_ptr<const InferencePlan> plan;

  /// The model of a supervised run; throws Error naming the run's task otherwise.
  models::MultimodalModel heads() const;
  /// A supervised run's outputs for `batch` as inference computes them (eval, predict, serve,
  /// optimize's figures): through `plan` when there is one, else the model, without autograd.
  models::ModelOutput forward(const data::Batch& batch) const;
  /// The towers of a retrieval run; throws Error naming the run's task otherwise.
  models::TwoTower towers() const;
  /// The translator of a translation run; throws Error naming the run's task otherwise.
  models::Translator translator() const;
};

/// Loads a finished run of any task. Throws Error naming the missing file when `dir` is not a
/// finished run, and the config path for a config that no longer builds.
std::shared_ptr<const Run> load_run(const std::string& dir, const RunLoadOptions& options = {});

}  // namespace mmfuse::runtime
