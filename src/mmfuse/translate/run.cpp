#include "mmfuse/translate/run.h"

#include <filesystem>

#include "mmfuse/core/error.h"
#include "mmfuse/core/safetensors.h"

namespace mmfuse::translate {

namespace fs = std::filesystem;

Translator build_translator(const ConfigNode& root, const data::Dataset& dataset) {
  const auto tcfg = TranslateConfig::from_config(root["translate"]);
  for (Modality m : {tcfg.source, tcfg.target}) {
    if (!dataset.uses(m)) {
      root["translate"].fail("the data has no " + std::string(to_string(m)) +
                             " modality; translate between modalities the data spec lists");
    }
  }
  const std::string src(to_string(tcfg.source));
  const ConfigNode enc = root["model"]["encoders"][src];
  if (enc.is_null()) {
    root["model"].fail("a translation run needs model.encoders." + src +
                       " (the source encoder), e.g. {type: lenet}");
  }
  int64_t classes = 0;
  if (tcfg.class_weight > 0) {
    const std::string label = first_class_target(dataset);
    if (label.empty()) {
      root["translate"]["class_weight"].fail("the data has no class target; set it to 0");
    }
    classes = dataset.num_classes(label);
  }
  return Translator(tcfg, enc, dataset.item_shape(tcfg.source), dataset.item_shape(tcfg.target),
                    classes);
}

TranslateRun load_translate_run(const std::string& dir) {
  for (const char* f : {"config.yaml", "dataset.json", "model.safetensors"}) {
    if (!fs::exists(fs::path(dir) / f)) {
      throw Error(dir + ": no " + f + "; give the folder of a finished translation run");
    }
  }
  TranslateRun run;
  run.dir = dir;
  run.config = ConfigNode::load_file((fs::path(dir) / "config.yaml").string());
  if (!is_translate_config(run.config)) {
    throw Error(dir + " is not a translation run (its config.yaml has no `task: translate`)");
  }
  run.tcfg = TranslateConfig::from_config(run.config["translate"]);
  run.dataset = data::Dataset::load((fs::path(dir) / "dataset.json").string());
  run.model = build_translator(run.config, *run.dataset);
  load_module(*run.model, (fs::path(dir) / "model.safetensors").string());
  run.model->eval();
  return run;
}

std::string first_class_target(const data::Dataset& dataset) {
  for (const auto& t : dataset.targets()) {
    if (t.kind == data::TargetKind::class_label) return t.name;
  }
  return {};
}

}  // namespace mmfuse::translate
