// Model summaries: the module tree with parameter counts, and FLOPs of a forward pass.
//
// FLOP method: Debian's LibTorch 1.13 has no Kineto; its legacy profiler estimates FLOPs for a
// few ops only (conv2d, mm/addmm, bmm, mul/add) through an API that changed in 2.x. So FLOPs are
// counted analytically from the shapes of the aten ops a forward pass runs, observed through
// at::RecordFunction callbacks on the calling thread (the same hook the profiler uses):
//   aten::convolution  2 * out.numel * (C_in / groups) * prod(kernel)   (transposed: from input)
//                      (also aten::mkldnn_convolution, which inference paths call directly;
//                      counted under aten::convolution)
//   aten::mm / addmm   2 * M * K * N
//   aten::bmm / baddbmm 2 * B * M * K * N
//   aten::bilinear     2 * rows * out * in1 * in2
// Convention: FLOPs = 2 x multiply-adds; additions of biases, activations, norms, pooling and
// softmax are not counted (they are small next to the products). Linear, MultiheadAttention,
// LSTM/GRU cells (via addmm/mm) and matmul (via mm/bmm) are covered by these ops; an op nested
// inside a counted op is not counted again. Fused CPU kernels that bypass them (e.g. a oneDNN
// RNN layer) are reported in `uncounted`.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "mmfuse/models/inputs.h"
#include "mmfuse/models/model.h"

namespace mmfuse::models {

struct FlopCount {
  /// 2 x multiply-adds of the counted ops.
  double total = 0;
  /// FLOPs per counted aten op ("aten::convolution" -> ...).
  std::map<std::string, double> by_op;
  /// Ops seen that do products but are not counted (fused kernels), with how often.
  std::map<std::string, int64_t> uncounted;
};

/// Runs `fn` and counts the FLOPs of the aten ops it runs on this thread.
/// Not reentrant: one count per thread at a time.
FlopCount count_flops(const std::function<void()>& fn);

struct ModuleRow {
  std::string path;  ///< dotted path from the root ("" for the root)
  std::string type;  ///< class name without namespace and "Impl" ("Conv2d", "LeNetEncoder")
  int depth = 0;
  int64_t params = 0;  ///< parameters of this module and its children
};

struct ModelSummary {
  std::vector<ModuleRow> modules;  ///< pre-order
  int64_t params = 0;
  int64_t trainable = 0;
  FlopCount flops;  ///< of a forward pass on one sample
};

/// Module tree and parameter counts of `module` (no forward pass).
ModelSummary summarize_modules(const torch::nn::Module& module);

/// summarize_modules + FLOPs of one eval-mode forward pass (no gradients) on one synthetic sample
/// from `inputs` (variable-length dimensions get `seq_len`). The model's mode is restored.
ModelSummary summarize_model(MultimodalModel& model, const ModelInputs& inputs,
                             int64_t seq_len = 32);

/// Human-readable table: one line per module up to `max_depth` (-1 = all), then totals.
std::string format_summary(const ModelSummary& summary, int max_depth = -1);

}  // namespace mmfuse::models
