#include "mmfuse/runtime/signature.h"

#include "mmfuse/core/error.h"

namespace mmfuse::runtime {

using nlohmann::json;

namespace {

InputSignature input_of(const data::Dataset& ds, Modality m) {
  return {m, ds.item_shape(m)};
}

std::vector<OutputSignature> head_outputs(const Run& run) {
  std::vector<OutputSignature> out;
  for (const auto& h : run.heads()->heads()) {
    OutputSignature o;
    o.name = h.target;
    o.shape = {h.head->out_dim()};
    switch (h.spec.kind) {
      case heads::TaskKind::classification:
        o.kind = OutputKind::classes;
        o.classes = run.dataset->label_map(h.target).names();
        break;
      case heads::TaskKind::multilabel:
        o.kind = OutputKind::labels;
        o.classes = run.dataset->label_map(h.target).names();
        break;
      case heads::TaskKind::regression:
      case heads::TaskKind::embedding:
        o.kind = OutputKind::values;
        break;
    }
    out.push_back(std::move(o));
  }
  return out;
}

}  // namespace

std::string to_string(OutputKind kind) {
  switch (kind) {
    case OutputKind::classes:
      return "classes";
    case OutputKind::labels:
      return "labels";
    case OutputKind::values:
      return "values";
    case OutputKind::embedding:
      return "embedding";
    case OutputKind::generated:
      return "generated";
  }
  return "unknown";
}

json Signature::to_json() const {
  json in = json::array();
  for (const auto& i : inputs) {
    in.push_back(
        {{"name", std::string(mmfuse::to_string(i.modality))}, {"item_shape", i.item_shape}});
  }
  json out = json::array();
  for (const auto& o : outputs) {
    json j = {{"name", o.name}, {"kind", runtime::to_string(o.kind)}, {"shape", o.shape}};
    if (!o.classes.empty()) j["classes"] = o.classes;
    if (o.kind == OutputKind::embedding || o.kind == OutputKind::generated) {
      j["modality"] = std::string(mmfuse::to_string(o.modality));
    }
    out.push_back(std::move(j));
  }
  return {{"task", models::to_string(task)}, {"inputs", in}, {"outputs", out}};
}

Signature signature(const Run& run) {
  Signature s;
  s.task = run.task.kind;
  const data::Dataset& ds = *run.dataset;
  switch (run.task.kind) {
    case models::TaskKind::supervised:
      for (Modality m : run.heads()->modalities()) s.inputs.push_back(input_of(ds, m));
      s.outputs = head_outputs(run);
      break;
    case models::TaskKind::retrieval: {
      models::TwoTower towers = run.towers();
      for (Modality m : kAllModalities) {
        if (towers->has(m)) s.inputs.push_back(input_of(ds, m));
      }
      for (Modality m : {towers->query_modality(), towers->candidate_modality()}) {
        OutputSignature o;
        o.name = "embedding_" + std::string(mmfuse::to_string(m));
        o.kind = OutputKind::embedding;
        o.shape = {towers->dim()};
        o.modality = m;
        s.outputs.push_back(std::move(o));
      }
      break;
    }
    case models::TaskKind::translate: {
      const models::TranslateConfig& cfg = run.translator()->config();
      s.inputs.push_back(input_of(ds, cfg.source));
      OutputSignature o;
      o.name = "generated";
      o.kind = OutputKind::generated;
      o.shape = ds.item_shape(cfg.target);
      o.modality = cfg.target;
      s.outputs.push_back(std::move(o));
      break;
    }
  }
  return s;
}

}  // namespace mmfuse::runtime
