#include "mmfuse/runtime/plan_compilers.h"

namespace mmfuse::runtime {

void PlanCompilers::add_encoder(std::string name, EncoderPlanCompiler compile) {
  encoders_.emplace_back(std::move(name), std::move(compile));
}

void PlanCompilers::add_fusion(std::string name, FusionPlanCompiler compile) {
  fusions_.emplace_back(std::move(name), std::move(compile));
}

void PlanCompilers::add_head(std::string name, HeadPlanCompiler compile) {
  heads_.emplace_back(std::move(name), std::move(compile));
}

std::pair<std::unique_ptr<CompiledEncoder>, std::string> PlanCompilers::compile(
    const encoders::EncoderBlock& block) const {
  for (const auto& [name, compile] : encoders_) {
    if (auto compiled = compile(block)) return {std::move(compiled), name};
  }
  return {nullptr, ""};
}

std::pair<std::unique_ptr<CompiledFusion>, std::string> PlanCompilers::compile(
    const fusion::FusionBlock& block) const {
  for (const auto& [name, compile] : fusions_) {
    if (auto compiled = compile(block)) return {std::move(compiled), name};
  }
  return {nullptr, ""};
}

std::pair<std::unique_ptr<CompiledHead>, std::string> PlanCompilers::compile(
    const heads::HeadBlock& block) const {
  for (const auto& [name, compile] : heads_) {
    if (auto compiled = compile(block)) return {std::move(compiled), name};
  }
  return {nullptr, ""};
}

std::vector<std::string> PlanCompilers::encoder_names() const {
  std::vector<std::string> out;
  for (const auto& e : encoders_) out.push_back(e.first);
  return out;
}

std::vector<std::string> PlanCompilers::fusion_names() const {
  std::vector<std::string> out;
  for (const auto& f : fusions_) out.push_back(f.first);
  return out;
}

std::vector<std::string> PlanCompilers::head_names() const {
  std::vector<std::string> out;
  for (const auto& h : heads_) out.push_back(h.first);
  return out;
}

void register_builtin_plan_compilers(PlanCompilers& r) {
  r.add_encoder("lenet", compile_lenet_plan);
  r.add_fusion("low_rank", compile_low_rank_plan);
  r.add_fusion("cross_attention", compile_cross_attention_plan);
  r.add_head("mlp", compile_mlp_head_plan);
}

PlanCompilers PlanCompilers::restricted(ModulePredicate accept) const {
  PlanCompilers r;
  for (const auto& [name, compile] : encoders_) {
    r.add_encoder(name, [compile, accept](const encoders::EncoderBlock& b) {
      return accept(*b.module()) ? compile(b) : nullptr;
    });
  }
  for (const auto& [name, compile] : fusions_) {
    r.add_fusion(name, [compile, accept](const fusion::FusionBlock& b) {
      return accept(*b.module()) ? compile(b) : nullptr;
    });
  }
  for (const auto& [name, compile] : heads_) {
    r.add_head(name, [compile, accept](const heads::HeadBlock& b) {
      return accept(*b.module()) ? compile(b) : nullptr;
    });
  }
  return r;
}

PlanCompilers int8_plan_compilers(std::shared_ptr<const nn::quant::QuantizedModel> model) {
  PlanCompilers r;
  r.add_encoder("lenet_int8", [model](const encoders::EncoderBlock& block) {
    return compile_lenet_int8_plan(block, *model);
  });
  r.add_fusion("cross_attention_int8", [model](const fusion::FusionBlock& block) {
    return compile_cross_attention_int8_plan(block, *model);
  });
  r.add_head("mlp_int8", [model](const heads::HeadBlock& block) {
    return compile_mlp_head_int8_plan(block, *model);
  });
  // A block none of whose weights the run quantized is a float32 block: the float compilers.
  const PlanCompilers float_blocks =
      plan_compilers().restricted([model](const torch::nn::Module& m) {
        if (!model->hooks) return true;
        for (const auto& p : m.parameters()) {
          if (model->hooks->find(p)) return false;
        }
        return true;
      });
  r.append(float_blocks);
  return r;
}

void PlanCompilers::append(const PlanCompilers& other) {
  encoders_.insert(encoders_.end(), other.encoders_.begin(), other.encoders_.end());
  fusions_.insert(fusions_.end(), other.fusions_.begin(), other.fusions_.end());
  heads_.insert(heads_.end(), other.heads_.begin(), other.heads_.end());
}

const PlanCompilers& plan_compilers() {
  static const PlanCompilers compilers = [] {
    PlanCompilers r;
    register_builtin_plan_compilers(r);
    return r;
  }();
  return compilers;
}

}  // namespace mmfuse::runtime
