// `mmfuse train --config C [key=value ...] [--out RUN_DIR] [--resume RUN_DIR]`
#include <spdlog/spdlog.h>

#include <iostream>

#include "mmfuse/retrieval/trainer.h"
#include "mmfuse/tools/cli.h"
#include "mmfuse/train/trainer.h"
#include "mmfuse/translate/trainer.h"
#include "mmfuse/translate/translator.h"

namespace mmfuse::tools {

void add_train_commands(CLI::App& app) {
  auto req = std::make_shared<train::TrainRequest>();
  auto resume_dir = std::make_shared<std::string>();
  auto threads = std::make_shared<int>(0);
  auto device = std::make_shared<std::string>();
  auto quiet = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand("train", "Train a model from a run config");
  cmd->add_option("--config,-c", req->config_path, "Run config (YAML: data, model, train)")
      ->check(CLI::ExistingFile);
  cmd->add_option("overrides", req->overrides,
                  "Config overrides: train.epochs=3 model.fusion.rank=16");
  cmd->add_option("--out,-o", req->run_dir, "Run directory (default: runs/<config name>)");
  cmd->add_option("--resume", *resume_dir,
                  "Continue the run in this directory from its last checkpoint")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--threads", *threads, "Intra-op threads (overrides train.threads)");
  cmd->add_option("--device", *device, "cpu, cuda or cuda:N (overrides train.device)");
  cmd->add_flag("--no-progress", *quiet, "No progress bar or lines on stderr");
  cmd->callback([=] {
    train::TrainRequest r = *req;
    if (!resume_dir->empty()) {
      if (!r.overrides.empty()) throw UsageError("overrides cannot change a resumed run");
      r.resume = true;
      r.run_dir = *resume_dir;
    } else if (r.config_path.empty()) {
      throw UsageError("train needs --config C (or --resume RUN_DIR)");
    }
    if (*threads > 0) r.threads = *threads;
    if (!device->empty()) r.device = *device;
    r.progress = !*quiet;
    if (!r.resume && translate::is_translate_config(ConfigNode::load_file(r.config_path))) {
      std::cout << translate::run_translate_training(r).dump(2) << "\n";
      return;
    }
    auto result = retrieval::is_retrieval_request(r) ? retrieval::run_retrieval_training(r)
                                                     : train::run_training(r);
    std::cout << result.summary.dump(2) << "\n";
  });
}

}  // namespace mmfuse::tools
