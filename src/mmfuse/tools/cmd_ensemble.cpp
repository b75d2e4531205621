// `mmfuse ensemble --runs A B ... --out DIR [--mode mean|vote]`: one run folder combining finished
// supervised runs (runtime/ensemble.h), evaluated, predicted and served like any run.
#include <iostream>

#include "mmfuse/runtime/ensemble.h"
#include "mmfuse/tools/cli.h"

namespace mmfuse::tools {

void add_ensemble_commands(CLI::App& app) {
  struct Args {
    std::vector<std::string> runs;
    std::string out;
    std::string mode = "mean";
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "ensemble",
      "Combine finished runs (same targets and data) into one run folder; retrieval runs: the "
      "mean of their cosine scores");
  cmd->add_option("--runs", args->runs, "Member run folders")->required()->expected(1, -1);
  cmd->add_option("--out,-o", args->out, "New run folder for the ensemble")->required();
  cmd->add_option("--mode", args->mode,
                  "mean: mean of probabilities (retrieval: of cosine scores); vote: majority of "
                  "the members' top classes (ties: higher mean probability, then lower class "
                  "index)");
  cmd->callback([args] {
    runtime::EnsembleRequest r;
    r.runs = args->runs;
    r.out = args->out;
    r.mode = models::ensemble_mode_from_string(args->mode);
    runtime::write_ensemble_run(r);
    std::cout << "ensemble of " << r.runs.size() << " runs (" << models::to_string(r.mode)
              << ") written to " << r.out << "\n";
  });
}

}  // namespace mmfuse::tools
