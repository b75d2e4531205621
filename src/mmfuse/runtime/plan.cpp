#include "mmfuse/runtime/plan.h"

#include <algorithm>

#include "mmfuse/core/error.h"
#include "mmfuse/runtime/plan_dnnl.h"

namespace mmfuse::runtime {

InferencePlan::InferencePlan(models::MultimodalModel model, const PlanCompilers& compilers)
    : model_(std::move(model)) {
  if (!model_) throw Error("InferencePlan: no model given");
  if (model_->is_training()) {
    throw Error("InferencePlan: the model is in training mode; call model->eval() first");
  }
  for (Modality m : model_->modalities()) {
    auto [compiled, name] = compilers.compile(model_->encoder(m));
    blocks_.push_back({"encoders." + std::string(to_string(m)), name});
    encoders_.push_back(std::move(compiled));
  }
  if (auto f = model_->fusion()) {
    auto [compiled, name] = compilers.compile(f);
    blocks_.push_back({"fusion", name});
    fusion_ = std::move(compiled);
  }
  if (model_->high_level()) blocks_.push_back({"high_level", ""});
  head_specs_ = model_->heads();
  for (const auto& spec : head_specs_) {
    auto [compiled, name] = compilers.compile(spec.head);
    blocks_.push_back({"heads." + spec.target, name});
    heads_.push_back(std::move(compiled));
  }
}

models::ModelOutput InferencePlan::forward(const data::Batch& batch) const {
  torch::NoGradGuard no_grad;
  const auto& modalities = model_->modalities();
  std::vector<nn::Encoded> encoded;
  encoded.reserve(modalities.size());
  for (std::size_t i = 0; i < modalities.size(); ++i) {
    const Modality m = modalities[i];
    const data::ModalityBatch& input = models::encoder_input(batch, m);
    nn::Encoded e = encoders_[i] ? encoders_[i]->encode(input) : model_->encoder(m)->encode(input);
    if (!e.present.defined()) e.present = input.present;
    encoded.push_back(std::move(e));
  }
  models::ModelOutput out;
  if (auto fusion = model_->fusion()) {
    fusion::FusionOutput f = fusion_ ? fusion_->fuse(encoded) : fusion->fuse(encoded);  // [B, D]
    out.fused = f.fused;
    out.losses = std::move(f.losses);
  } else {
    out.fused = encoded.front().pooled;
  }
  auto high_level = model_->high_level();
  out.representation = high_level ? high_level->forward(out.fused) : out.fused;
  for (std::size_t i = 0; i < head_specs_.size(); ++i) {
    const auto& spec = head_specs_[i];
    out.outputs[spec.target] = heads_[i] ? heads_[i]->predict(out.representation)
                                         : spec.head->predict(out.representation);  // [B, K]
  }
  return out;
}

int64_t InferencePlan::compiled_blocks() const {
  return std::count_if(blocks_.begin(), blocks_.end(),
                       [](const PlanBlockInfo& b) { return !b.compiler.empty(); });
}

int64_t InferencePlan::compiled_shapes() const {
  int64_t n = 0;
  for (const auto& e : encoders_) n += e ? e->compiled_shapes() : 0;
  n += fusion_ ? fusion_->compiled_shapes() : 0;
  for (const auto& h : heads_) n += h ? h->compiled_shapes() : 0;
  return n;
}

std::vector<std::string> InferencePlan::implementations() const {
  std::vector<std::string> out;
  auto add = [&](const CompiledBlock* b) {
    if (!b) return;
    for (const auto& impl : b->implementations()) {
      if (std::find(out.begin(), out.end(), impl) == out.end()) out.push_back(impl);
    }
  };
  for (const auto& e : encoders_) add(e.get());
  add(fusion_.get());
  for (const auto& h : heads_) add(h.get());
  return out;
}

std::string onednn_cpu_isa() {
  switch (dnnl::get_effective_cpu_isa()) {
    case dnnl::cpu_isa::sse41:
      return "sse41";
    case dnnl::cpu_isa::avx:
      return "avx";
    case dnnl::cpu_isa::avx2:
      return "avx2";
    case dnnl::cpu_isa::avx2_vnni:
      return "avx2_vnni";
    case dnnl::cpu_isa::avx512_core:
      return "avx512_core";
    case dnnl::cpu_isa::avx512_core_vnni:
      return "avx512_core_vnni";
    case dnnl::cpu_isa::avx512_core_bf16:
      return "avx512_core_bf16";
    case dnnl::cpu_isa::avx512_core_amx:
      return "avx512_core_amx";
    default:
      return "other (" + std::to_string(static_cast<int>(dnnl::get_effective_cpu_isa())) + ")";
  }
}

std::string onednn_version() {
  const dnnl_version_t* v = dnnl_version();
  return std::to_string(v->major) + "." + std::to_string(v->minor) + "." +
         std::to_string(v->patch) + " (" + v->hash + ")";
}

std::string onednn_runtime() {
  switch (dnnl_version()->cpu_runtime) {
    case DNNL_RUNTIME_OMP:
      return "OpenMP";
    case DNNL_RUNTIME_TBB:
      return "TBB";
    case DNNL_RUNTIME_SEQ:
      return "sequential";
    case DNNL_RUNTIME_THREADPOOL:
      return "threadpool";
    default:
      return "other";
  }
}

}  // namespace mmfuse::runtime
