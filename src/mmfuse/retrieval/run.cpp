#include "mmfuse/retrieval/run.h"

#include <filesystem>

#include "mmfuse/core/error.h"
#include "mmfuse/core/hash.h"
#include "mmfuse/core/safetensors.h"
#include "mmfuse/train/trainer.h"

namespace mmfuse::retrieval {

namespace fs = std::filesystem;

RetrievalRun load_retrieval_run(const std::string& run_dir) {
  for (const char* f : {"config.yaml", "dataset.json", "model.safetensors"}) {
    if (!fs::exists(fs::path(run_dir) / f)) {
      throw Error(run_dir + ": no " + f +
                  "; give the folder of a finished `mmfuse train` run with task: retrieval");
    }
  }
  RetrievalRun run;
  run.dir = run_dir;
  run.config = ConfigNode::load_file((fs::path(run_dir) / "config.yaml").string());
  if (!is_retrieval_config(run.config)) {
    throw Error(run_dir + " is a classification run; give a run trained with task: retrieval");
  }
  run.rc = RetrievalConfig::from_config(run.config);
  run.dataset = data::Dataset::load((fs::path(run_dir) / "dataset.json").string());
  run.model = build_two_tower(run.rc, run.config["model"], train::model_inputs(*run.dataset));
  const std::string weights = (fs::path(run_dir) / "model.safetensors").string();
  load_module(*run.model, weights);
  run.model->eval();
  run.model_hash = hash_file(weights);
  return run;
}

}  // namespace mmfuse::retrieval
