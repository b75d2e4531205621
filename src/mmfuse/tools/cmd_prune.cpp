// `mmfuse prune --run R --out R2 --amount A [--structured] [--global] [--norm l1|l2]
// [--finetune-epochs E]`: a pruned copy of a trained run (optimize/prune.h), fine-tuned when
// asked, with the comparison printed and written to R2/prune.json.
#include <iostream>

#include "mmfuse/core/error.h"
#include "mmfuse/optimize/prune.h"
#include "mmfuse/tools/cli.h"

namespace mmfuse::tools {

void add_prune_commands(CLI::App& app) {
  struct Args {
    optimize::PruneOptions options;
    bool global = false;
    std::string norm = "l1";
    int threads = 0;
    bool no_progress = false;
    bool json = false;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "prune", "Prune a trained run into a new run (magnitude or structured), then fine-tune");
  cmd->add_option("--run", args->options.run, "Trained run folder (not modified)")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--out,-o", args->options.out, "New run folder for the pruned run")->required();
  cmd->add_option("--amount", args->options.amount,
                  "Fraction pruned in [0, 1): of the weights, or of each layer's channels/units "
                  "with --structured")
      ->required();
  cmd->add_flag("--structured", args->options.structured,
                "Remove whole output channels/units so the kernels shrink (lenet, mlp)");
  cmd->add_flag("--global", args->global,
                "Unstructured: rank all layers' weights together (default: per layer)");
  cmd->add_option("--norm", args->norm, "Structured: channel score, l1 or l2");
  cmd->add_option("--finetune-epochs", args->options.finetune_epochs,
                  "Epochs of fine-tuning with the run's own training settings (0: none)");
  cmd->add_option("--finetune-set", args->options.finetune_overrides,
                  "Config override of the fine-tuning, KEY=VALUE (e.g. train.optimizer.lr=0.001); "
                  "repeatable");
  cmd->add_option("--latency-batch", args->options.latency_batch,
                  "Batch size of the batched latency figure")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--threads", args->threads, "Intra-op threads (0: the run's train.threads)");
  cmd->add_flag("--no-progress", args->no_progress, "No progress bar on stderr");
  cmd->add_flag("--json", args->json, "Print prune.json instead of the table");
  cmd->callback([args] {
    optimize::PruneOptions o = args->options;
    if (args->global && o.structured) {
      throw UsageError("--global applies to unstructured pruning; drop it or --structured");
    }
    o.scope = args->global ? optimize::PruneScope::global : optimize::PruneScope::layer;
    if (args->norm != "l1" && args->norm != "l2") {
      throw UsageError("--norm: expected l1 or l2, got '" + args->norm + "'");
    }
    o.norm = args->norm == "l1" ? optimize::ChannelNorm::l1 : optimize::ChannelNorm::l2;
    if (args->threads > 0) o.threads = args->threads;
    o.progress = !args->no_progress;
    const auto report = optimize::run_prune(o);
    if (args->json) {
      std::cout << report.to_json().dump(2) << "\n";
    } else {
      std::cout << report.table() << "\npruned run written to " << o.out << "\n";
    }
  });
}

}  // namespace mmfuse::tools
