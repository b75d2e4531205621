#include "mmfuse/models/task.h"

#include "mmfuse/core/error.h"
#include "mmfuse/data/text/text_pipeline.h"
#include "mmfuse/data/text/wordpiece_pipeline.h"
#include "mmfuse/models/build.h"

namespace mmfuse::models {

namespace {

const std::pair<TaskKind, const char*> kTaskNames[] = {{TaskKind::supervised, "supervised"},
                                                       {TaskKind::retrieval, "retrieval"},
                                                       {TaskKind::translate, "translate"}};

// The translator of `task` for the dataset: source encoder from model.encoders.<source>.
Translator build_translator(const TranslateConfig& tc, const ConfigNode& root,
                            const data::Dataset& dataset) {
  for (Modality m : {tc.source, tc.target}) {
    if (!dataset.uses(m)) {
      root["translate"].fail("the data has no " + std::string(to_string(m)) +
                             " modality; translate between modalities the data spec lists");
    }
  }
  const std::string src(to_string(tc.source));
  const ConfigNode enc = root["model"]["encoders"][src];
  if (enc.is_null()) {
    root["model"].fail("a translation run needs model.encoders." + src +
                       " (the source encoder), e.g. {type: lenet}");
  }
  int64_t classes = 0;
  if (tc.class_weight > 0) {
    const std::string label = first_class_target(dataset);
    if (label.empty()) {
      root["translate"]["class_weight"].fail("the data has no class target; set it to 0");
    }
    classes = dataset.num_classes(label);
  }
  return Translator(tc, enc, dataset.item_shape(tc.source), dataset.item_shape(tc.target), classes);
}

}  // namespace

std::string to_string(TaskKind kind) {
  for (const auto& [k, name] : kTaskNames) {
    if (k == kind) return name;
  }
  return "?";
}

TaskKind task_kind_from_config(const ConfigNode& node) {
  const auto name = node.as<std::string>();
  if (name == "classification") return TaskKind::supervised;
  for (const auto& [k, n] : kTaskNames) {
    if (name == n) return k;
  }
  node.fail("unknown task '" + name + "'; known: supervised (or classification), retrieval, " +
            "translate");
}

TaskSpec TaskSpec::from_config(const ConfigNode& root) {
  TaskSpec t;
  if (root.has("task")) {
    t.kind = task_kind_from_config(root["task"]);
  } else if (root.has("retrieval")) {
    t.kind = TaskKind::retrieval;
  }
  if (t.kind == TaskKind::retrieval) t.retrieval = RetrievalConfig::from_config(root);
  if (t.kind == TaskKind::translate) t.translate = TranslateConfig::from_config(root["translate"]);
  if (t.kind != TaskKind::retrieval && root.has("retrieval")) {
    root["retrieval"].fail("a `retrieval:` section needs task: retrieval");
  }
  if (t.kind != TaskKind::translate && root.has("translate")) {
    root["translate"].fail("a `translate:` section needs task: translate");
  }
  return t;
}

std::shared_ptr<torch::nn::Module> TaskModel::module() const {
  switch (kind) {
    case TaskKind::supervised:
      return heads.ptr();
    case TaskKind::retrieval:
      return towers.ptr();
    case TaskKind::translate:
      return translator.ptr();
  }
  return nullptr;
}

ModelInputs model_inputs(const data::Dataset& ds) {
  ModelInputs in;
  for (Modality m : ds.modalities()) {
    ModalityInput mi;
    mi.item_shape = ds.item_shape(m);
    if (auto* text = dynamic_cast<const data::text::TextPipeline*>(&ds.pipeline(m))) {
      if (text->fitted() && text->state().value("output", std::string()) == "ids") {
        mi.vocab_size = text->vocab_size();
        mi.vocabulary = text->vocabulary().tokens();
      }
    }
    if (auto* wp = dynamic_cast<const data::text::WordPiecePipeline*>(&ds.pipeline(m))) {
      mi.vocab_size = wp->vocab_size();
      mi.vocabulary = wp->tokenizer().tokens();
    }
    in.modalities[m] = mi;
  }
  for (const auto& t : ds.targets()) {
    TargetSpec spec;
    if (t.kind == data::TargetKind::class_label) {
      spec.kind = heads::TaskKind::classification;
      spec.size = ds.num_classes(t.name);
    } else {
      spec.kind = heads::TaskKind::regression;
      spec.size = ds.regression_width(t.name);
    }
    in.targets[t.name] = spec;
  }
  return in;
}

std::string first_class_target(const data::Dataset& dataset) {
  for (const auto& t : dataset.targets()) {
    if (t.kind == data::TargetKind::class_label) return t.name;
  }
  return {};
}

TaskModel build_task_model(const TaskSpec& task, const ConfigNode& root,
                           const data::Dataset& dataset, PretrainedWeights pretrained) {
  TaskModel m;
  m.kind = task.kind;
  switch (task.kind) {
    case TaskKind::supervised:
      m.heads = build_model(root["model"], model_inputs(dataset), {}, pretrained);
      break;
    case TaskKind::retrieval:
      m.towers = build_two_tower(*task.retrieval, root["model"], model_inputs(dataset), pretrained);
      break;
    case TaskKind::translate:
      m.translator = build_translator(*task.translate, root, dataset);
      break;
  }
  return m;
}

}  // namespace mmfuse::models
