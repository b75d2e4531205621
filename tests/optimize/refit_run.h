// A run as `mmfuse cv --refit` makes them, for the optimize tests: a tabular MLP trained on the
// synthetic train and val manifests pooled, with no val split, its last epoch kept.
#pragma once

#include <fstream>
#include <string>

#include "mmfuse/train/trainer.h"
#include "train/synthetic_data.h"

namespace mmfuse::testing {

inline std::string train_refit_run(const SyntheticRun& data, const std::string& name) {
  const std::string config = data.dir.file(name + ".yaml");
  std::ofstream(config) << "data: data.yaml\nmodel:\n  encoders:\n"
                           "    tabular: {type: mlp, hidden: [16]}\n"
                           "  heads: {label: {type: mlp, hidden: 16}}\n"
                           "train:\n  epochs: 8\n  batch_size: 12\n  seed: 5\n  threads: 1\n"
                           "  select: last\n  optimizer: {type: adam, lr: 0.01}\n";
  train::TrainRequest req;
  req.config = train::RunConfig::load(config);
  req.run_dir = data.dir.file("run_" + name);
  req.pool_val = true;
  req.progress = false;
  (void)train::run_training(req);
  return req.run_dir;
}

}  // namespace mmfuse::testing
