// `mmfuse train --config C [key=value ...] [--out RUN_DIR] [--resume RUN_DIR]`, for every task,
// in one process or in several under torchrun (its environment names the process group).
#include <iostream>

#include "mmfuse/core/error.h"
#include "mmfuse/core/memory.h"
#include "mmfuse/tools/cli.h"
#include "mmfuse/train/trainer.h"

namespace mmfuse::tools {

namespace {

struct TrainArgs {
  std::string config, run_dir, resume_dir, device;
  std::vector<std::string> overrides;
  int threads = 0;
  std::string memory_budget;
  bool quiet = false;
};

void add_train_options(CLI::App* cmd, TrainArgs& a) {
  cmd->add_option("--config,-c", a.config, "Run config (YAML: data, task, model, train)")
      ->check(CLI::ExistingFile);
  cmd->add_option("overrides", a.overrides,
                  "Config overrides: train.epochs=3 model.fusion.rank=16");
  cmd->add_option("--out,-o", a.run_dir, "Run directory (default: runs/<config name>)");
  cmd->add_option("--threads", a.threads, "Intra-op threads (overrides train.threads)");
  cmd->add_option("--device", a.device, "cpu, cuda or cuda:N (overrides train.device)");
  cmd->add_option("--memory-budget", a.memory_budget,
                  "Memory budget in MiB (overrides train.memory_budget_mb; 0: none): caps the RAM "
                  "feature cache and the prefetch queue, and the summary says if the peak held");
  cmd->add_flag("--no-progress", a.quiet, "No progress bar or lines on stderr");
}

train::TrainRequest train_request(const TrainArgs& a) {
  train::TrainRequest r;
  if (!a.resume_dir.empty()) {
    if (!a.overrides.empty() || !a.config.empty()) {
      throw UsageError("--resume continues a run with its own config; drop --config and overrides");
    }
    r.resume = true;
    r.run_dir = a.resume_dir;
  } else {
    if (a.config.empty()) throw UsageError("train needs --config C (or --resume RUN_DIR)");
    r.config = train::RunConfig::load(a.config, a.overrides);
    r.run_dir = a.run_dir;
  }
  if (a.threads > 0) r.threads = a.threads;
  if (!a.device.empty()) r.device = a.device;
  if (!a.memory_budget.empty())
    r.memory_budget_mb = parse_memory_mb(a.memory_budget, "--memory-budget");
  r.progress = !a.quiet;
  r.distributed = distributed_from_environment();
  return r;
}

void print_result(const train::TrainRequest& r, const train::TrainResult& result) {
  if (r.distributed.rank == 0) std::cout << result.summary.dump(2) << "\n";
}

}  // namespace

void add_train_commands(CLI::App& app) {
  auto args = std::make_shared<TrainArgs>();
  auto* cmd = app.add_subcommand(
      "train", "Train a model from a run config (any task; several processes under torchrun)");
  add_train_options(cmd, *args);
  cmd->add_option("--resume", args->resume_dir,
                  "Continue the run in this directory from its last checkpoint")
      ->check(CLI::ExistingDirectory);
  cmd->callback([=] {
    const auto r = train_request(*args);
    print_result(r, train::run_training(r));
  });
}

void add_translate_train_command(CLI::App& parent) {
  auto args = std::make_shared<TrainArgs>();
  auto* cmd = parent.add_subcommand("train",
                                    "Train a translator (same as `mmfuse train` on a "
                                    "config with task: translate)");
  add_train_options(cmd, *args);
  cmd->callback([=] {
    const auto r = train_request(*args);
    if (r.config->task.kind != models::TaskKind::translate) {
      throw UsageError(args->config + " is a " + models::to_string(r.config->task.kind) +
                       " config; `translate train` needs task: translate (or use `mmfuse train`)");
    }
    print_result(r, train::run_training(r));
  });
}

}  // namespace mmfuse::tools
