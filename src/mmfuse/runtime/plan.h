// The inference plan: a loaded model compiled once into fused, layout-stable oneDNN primitives
// (ONNX Runtime's recipe: conv + folded BatchNorm + ReLU as one primitive, the blocked layout
// oneDNN chooses kept from an encoder's entry to its exit, pooling in that layout, buffers
// allocated once), run in place of the module path for inference.
//
//   runtime::InferencePlan plan(model);     // model in eval mode, weights final
//   models::ModelOutput y = plan.forward(batch);   // equals model->forward(batch) within 1e-5
//
// The plan grows block by block: each supported encoder, fusion or head has a compiler registered
// by the block's name (plan_compilers.h); a block without one keeps the module path, so a plan may
// cover a model partially (compiled encoders, module-path fusion, compiled heads). The high-level
// block always runs as a module.
//
// Compiled blocks build their primitives per batch size on first use and keep them (compile
// counts: compiled_shapes()); intermediate buffers are preallocated per batch size and reused,
// so a call allocates only its outputs. Thread-safe: concurrent calls of one batch size take
// separate buffer sets from a pool.
//
// Requires: the model's weights and running statistics do not change after construction (a
// loaded run's are read-only); float32 CPU inputs.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "mmfuse/models/model.h"
#include "mmfuse/runtime/plan_compilers.h"

namespace mmfuse::runtime {

/// What the plan covers.
struct PlanBlockInfo {
  std::string block;     ///< "encoders.image", "heads.digit", "fusion"
  std::string compiler;  ///< registered compiler name, "" on the module path
};

class InferencePlan {
 public:
  /// Compiles every block of `model` that has a compiler in `compilers`.
  explicit InferencePlan(models::MultimodalModel model,
                         const PlanCompilers& compilers = plan_compilers());

  /// batch -> outputs per head, as MultimodalModel::forward in eval mode without autograd.
  /// Throws Error naming a modality the batch lacks.
  models::ModelOutput forward(const data::Batch& batch) const;

  /// Every block with how it runs, in model order (encoders, fusion, high level, heads).
  const std::vector<PlanBlockInfo>& blocks() const { return blocks_; }
  /// Number of blocks running compiled primitives.
  int64_t compiled_blocks() const;
  /// Sum over compiled blocks of the batch sizes they built primitives for.
  int64_t compiled_shapes() const;
  /// oneDNN's implementation names of every primitive built so far ("jit:avx2", ...), distinct.
  std::vector<std::string> implementations() const;

  const models::MultimodalModel& model() const { return model_; }

 private:
  models::MultimodalModel model_;
  std::vector<std::unique_ptr<CompiledEncoder>> encoders_;  // per modality; null: module path
  std::unique_ptr<CompiledFusion> fusion_;                  // null: module path (or none)
  std::vector<std::unique_ptr<CompiledHead>> heads_;        // per head spec; null: module path
  std::vector<models::HeadSpec> head_specs_;
  std::vector<PlanBlockInfo> blocks_;
};

/// oneDNN's CPU instruction set in effect ("avx2", "avx512_core", ...), the library version and
/// its threading runtime ("OpenMP").
std::string onednn_cpu_isa();
std::string onednn_version();
std::string onednn_runtime();

}  // namespace mmfuse::runtime
