// Compilers of the inference plan (plan.h): one per supported block, registered by the block's
// registered name ("lenet", "low_rank", "cross_attention", "mlp"), each turning one block of a
// loaded model into a compiled form that runs oneDNN primitives in place of the module. A
// compiler returns nullptr for a block it does not handle (another type, an option it does not
// cover); the block then keeps the module path.
//
// Adding one: a file plan_<block>.cpp with a compile function, one line in
// register_builtin_plan_compilers (plan_compilers.cpp), and the block in
// tests/runtime/plan_test.cpp.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "mmfuse/data/batch.h"
#include "mmfuse/nn/encoded.h"
#include "mmfuse/nn/encoders/encoder.h"
#include "mmfuse/nn/fusion/fusion.h"
#include "mmfuse/nn/heads/head.h"
#include "mmfuse/nn/quant/quantize.h"

namespace mmfuse::runtime {

/// A compiled block: primitives built per batch size, thread-safe calls.
class CompiledBlock {
 public:
  virtual ~CompiledBlock() = default;
  /// Batch sizes primitives were built for so far (each built once).
  virtual int64_t compiled_shapes() const = 0;
  /// oneDNN's implementation names of its primitives ("jit:avx2", "brg:avx2", ...).
  virtual std::vector<std::string> implementations() const = 0;
};

class CompiledEncoder : public CompiledBlock {
 public:
  /// input.data [B, ...] -> as the module's Encoder::encode in eval mode without autograd.
  virtual nn::Encoded encode(const data::ModalityBatch& input) const = 0;
};

class CompiledHead : public CompiledBlock {
 public:
  /// z [B, D] -> as the module's Head::predict in eval mode without autograd.
  virtual torch::Tensor predict(const torch::Tensor& z) const = 0;
};

class CompiledFusion : public CompiledBlock {
 public:
  /// The encoders' outputs -> as the module's Fusion::fuse in eval mode without autograd.
  virtual fusion::FusionOutput fuse(const std::vector<nn::Encoded>& inputs) const = 0;
};

using EncoderPlanCompiler =
    std::function<std::unique_ptr<CompiledEncoder>(const encoders::EncoderBlock&)>;
using FusionPlanCompiler =
    std::function<std::unique_ptr<CompiledFusion>(const fusion::FusionBlock&)>;
using HeadPlanCompiler = std::function<std::unique_ptr<CompiledHead>(const heads::HeadBlock&)>;

class PlanCompilers {
 public:
  void add_encoder(std::string name, EncoderPlanCompiler compile);
  void add_fusion(std::string name, FusionPlanCompiler compile);
  void add_head(std::string name, HeadPlanCompiler compile);

  /// The first registered compiler that accepts `block`, with its name; {nullptr, ""} if none.
  std::pair<std::unique_ptr<CompiledEncoder>, std::string> compile(
      const encoders::EncoderBlock& block) const;
  std::pair<std::unique_ptr<CompiledFusion>, std::string> compile(
      const fusion::FusionBlock& block) const;
  std::pair<std::unique_ptr<CompiledHead>, std::string> compile(
      const heads::HeadBlock& block) const;

  /// The same compilers, each applied only to blocks whose module `accept`s.
  using ModulePredicate = std::function<bool(const torch::nn::Module&)>;
  PlanCompilers restricted(ModulePredicate accept) const;
  /// Adds `other`'s compilers after these.
  void append(const PlanCompilers& other);

  std::vector<std::string> encoder_names() const;
  std::vector<std::string> fusion_names() const;
  std::vector<std::string> head_names() const;

 private:
  std::vector<std::pair<std::string, EncoderPlanCompiler>> encoders_;
  std::vector<std::pair<std::string, FusionPlanCompiler>> fusions_;
  std::vector<std::pair<std::string, HeadPlanCompiler>> heads_;
};

/// The built-in compilers (filled once by register_builtin_plan_compilers).
const PlanCompilers& plan_compilers();
void register_builtin_plan_compilers(PlanCompilers& r);

/// The built-in compilers, one file each.
std::unique_ptr<CompiledEncoder> compile_lenet_plan(const encoders::EncoderBlock& block);
std::unique_ptr<CompiledFusion> compile_low_rank_plan(const fusion::FusionBlock& block);
std::unique_ptr<CompiledFusion> compile_cross_attention_plan(const fusion::FusionBlock& block);
std::unique_ptr<CompiledHead> compile_mlp_head_plan(const heads::HeadBlock& block);

/// A LeNet with int8 convolutions in `model` (static mode; the others kept in float32): 8-bit
/// maps between its int8 blocks (plan_lenet_int8.cpp); nullptr for anything else. The result holds
/// the int8 kernels it uses.
std::unique_ptr<CompiledEncoder> compile_lenet_int8_plan(const encoders::EncoderBlock& block,
                                                         const nn::quant::QuantizedModel& model);
/// An `mlp` head whose two Linear layers run in int8 in `model` (static mode): 8-bit hidden codes
/// (plan_mlp_head_int8.cpp); nullptr for anything else.
std::unique_ptr<CompiledHead> compile_mlp_head_int8_plan(const heads::HeadBlock& block,
                                                         const nn::quant::QuantizedModel& model);
/// A `cross_attention` fusion whose projections, out_proj or feed-forward layers run in int8 in
/// `model` (static mode; the others float32): int8 inner products (plan_cross_attention.cpp);
/// nullptr for anything else or a layer no plan step reproduces.
std::unique_ptr<CompiledFusion> compile_cross_attention_int8_plan(
    const fusion::FusionBlock& block, const nn::quant::QuantizedModel& model);
/// The compilers of an int8 run's plan: its LeNets, cross-attention fusions and MLP heads with int8
/// layers, and the float32 compilers for blocks none of whose weights the run quantized (e.g. a
/// low-rank fusion's factors, layers the sensitivity pass kept); other blocks keep the module
/// path, where the run's int8 layers are hooked in while `model` (its hooks) lives.
PlanCompilers int8_plan_compilers(std::shared_ptr<const nn::quant::QuantizedModel> model);

}  // namespace mmfuse::runtime
