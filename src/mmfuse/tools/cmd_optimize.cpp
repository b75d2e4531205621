// `mmfuse optimize --run RUN_DIR --out RUN_DIR2 --int8 static|dynamic [--calib-samples N]
// [--max-layer-drop P] [--percentile Q] [--float-layers a,b] [--json]` or `mmfuse optimize --run
// RUN_DIR --out RUN_DIR2 --prune AMOUNT [--structured] [--finetune-epochs E]`: an optimized copy of
// a trained run (optimize/optimize.h, optimize/prune.h; `mmfuse prune` has every pruning option).
#include <torch/torch.h>

#include <iostream>

#include "mmfuse/core/error.h"
#include "mmfuse/optimize/optimize.h"
#include "mmfuse/optimize/prune.h"
#include "mmfuse/tools/cli.h"

namespace mmfuse::tools {

namespace {

// The int8 options of `mmfuse optimize` (the pruning options are added beside them).
void add_optimize_int8_options(CLI::App* cmd, const std::shared_ptr<optimize::OptimizeOptions>& o,
                               const std::shared_ptr<std::string>& int8) {
  cmd->add_option("--int8", *int8,
                  "int8 quantization: static (activations calibrated on training samples) or "
                  "dynamic (Linear layers, activations quantized on the fly)")
      ->check(CLI::IsMember({"static", "dynamic"}));
  cmd->add_option("--calib-samples", o->calib_samples,
                  "Training samples run to calibrate activation ranges (static)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--percentile", o->percentile,
                  "Activation range: 100 = min/max, below: that percentile of |x|")
      ->check(CLI::Range(50.0, 100.0))
      ->capture_default_str();
  cmd->add_option("--max-layer-drop", o->max_layer_drop,
                  "Sensitivity: a layer costing more validation accuracy points than this when "
                  "quantized alone stays float32 (negative: skip the sensitivity pass)")
      ->capture_default_str();
  cmd->add_option("--sensitivity-samples", o->sensitivity_samples,
                  "Validation samples of the sensitivity pass (0: all)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--float-layers", o->float_layers,
                  "Layers (module names, e.g. heads.digit.net.0) kept in float32")
      ->delimiter(',');
  cmd->add_flag("!--float-weights", o->weight_only,
                "Keep the parameters no int8 layer computes with (attention in-projections, "
                "low-rank factors, embeddings) float32 on disk instead of int8 weight-only");
}

// The pruning options of `mmfuse optimize` (all of them, with --global and --norm: `mmfuse prune`).
void add_optimize_prune_options(CLI::App* cmd, const std::shared_ptr<optimize::PruneOptions>& p) {
  cmd->add_option("--prune", p->amount,
                  "Prune this fraction in [0, 1) of each layer's weights (magnitude), or of its "
                  "channels/units with --structured");
  cmd->add_flag("--structured", p->structured,
                "Pruning removes whole output channels/units so the kernels shrink (lenet, mlp)");
  cmd->add_option("--finetune-epochs", p->finetune_epochs,
                  "Epochs of fine-tuning after pruning, with the run's own training settings");
  cmd->add_option("--finetune-set", p->finetune_overrides,
                  "Config override of the fine-tuning, KEY=VALUE (e.g. train.optimizer.lr=0.001); "
                  "repeatable");
}

// `--prune` without `--int8`: the pruned run and its report.
void run_optimize_prune(optimize::PruneOptions p, const optimize::OptimizeOptions& o, int threads,
                        bool json) {
  p.run = o.run_dir;
  p.out = o.out_dir;
  p.latency_batch = o.batch;
  if (threads > 0) p.threads = threads;
  const auto report = optimize::run_prune(p);
  std::cout << (json ? report.to_json().dump(2) + "\n"
                     : report.table() + "\npruned run written to " + p.out + "\n");
}

}  // namespace

void add_optimize_commands(CLI::App& app) {
  auto o = std::make_shared<optimize::OptimizeOptions>();
  auto int8 = std::make_shared<std::string>();
  auto threads = std::make_shared<int>(0);
  auto json_out = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand(
      "optimize",
      "Write an optimized copy of a trained run (int8 quantization) and report accuracy, macro "
      "F1, latency and size beside the float run");
  cmd->add_option("--run", o->run_dir, "Run directory written by `mmfuse train`")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--out", o->out_dir, "Folder of the new run (must not hold a run)")->required();
  add_optimize_int8_options(cmd, o, int8);
  auto prune = std::make_shared<optimize::PruneOptions>();
  prune->amount = -1.0;  // not asked
  add_optimize_prune_options(cmd, prune);
  cmd->add_option("--batch", o->batch, "Batch of the batched latency figure")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--steps", o->latency_steps, "Timed forwards per latency figure")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--threads", *threads, "Intra-op threads (default: torch's choice)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--json", *json_out, "Print the report as JSON");
  cmd->callback([=] {
    if (*threads > 0) at::set_num_threads(*threads);
    const bool pruning = prune->amount >= 0.0;
    if (pruning && !int8->empty()) {
      throw UsageError(
          "--prune and --int8 in one call: prune first (`mmfuse optimize --prune`), "
          "then quantize the pruned run with `mmfuse optimize --int8`");
    }
    if (!pruning && int8->empty()) throw UsageError("give --int8 static|dynamic or --prune AMOUNT");
    if (pruning) return run_optimize_prune(*prune, *o, *threads, *json_out);
    o->int8 = nn::quant::parse_quant_mode(*int8);
    auto report = optimize::optimize_run(*o);
    std::cout << (*json_out ? report.to_json().dump(2) + "\n" : report.table());
  });
}

}  // namespace mmfuse::tools
