#include "mmfuse/train/load_run.h"

#include <filesystem>

#include "mmfuse/core/error.h"
#include "mmfuse/core/safetensors.h"
#include "mmfuse/models/build.h"
#include "mmfuse/train/trainer.h"

namespace mmfuse::train {

namespace fs = std::filesystem;

LoadedRun load_run(const std::string& run_dir, const std::string& weights) {
  for (const std::string& f : {std::string("config.yaml"), std::string("dataset.json"), weights}) {
    if (!fs::exists(fs::path(run_dir) / f)) {
      throw Error(run_dir + ": no " + f + "; give the folder of a finished `mmfuse train` run");
    }
  }
  LoadedRun run;
  run.dir = run_dir;
  run.config = ConfigNode::load_file((fs::path(run_dir) / "config.yaml").string());
  run.dataset = data::Dataset::load((fs::path(run_dir) / "dataset.json").string());
  run.model = models::build_model(run.config["model"], model_inputs(*run.dataset));
  load_module(*run.model, (fs::path(run_dir) / weights).string());
  run.model->eval();
  return run;
}

}  // namespace mmfuse::train
