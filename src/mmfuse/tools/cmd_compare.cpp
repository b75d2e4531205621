// `mmfuse compare --config C --fusions concat,tensor,low_rank [--out DIR]`
#include <iostream>
#include <sstream>

#include "mmfuse/tools/cli.h"
#include "mmfuse/train/compare.h"

namespace mmfuse::tools {

void add_compare_commands(CLI::App& app) {
  auto req = std::make_shared<train::CompareRequest>();
  auto fusions = std::make_shared<std::string>("concat");
  auto no_single = std::make_shared<bool>(false);
  auto json_out = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand(
      "compare", "Train the same encoders with each fusion and each single modality; one table");
  cmd->add_option("--config,-c", req->config_path, "Run config (YAML: data, model, train)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--fusions", *fusions, "Comma-separated fusion types (default: concat)");
  cmd->add_option("overrides", req->overrides, "Config overrides applied to every variant");
  cmd->add_option("--out,-o", req->out_dir, "Folder for the variants' runs")->required();
  cmd->add_flag("--no-single", *no_single, "Skip the single-modality models");
  cmd->add_flag("--json", *json_out, "Print the rows as JSON");
  cmd->callback([=] {
    train::CompareRequest r = *req;
    std::stringstream ss(*fusions);
    for (std::string f; std::getline(ss, f, ',');) {
      if (!f.empty()) r.fusions.push_back(f);
    }
    r.single_modalities = !*no_single;
    auto rows = train::run_comparison(r);
    std::cout << (*json_out ? rows.dump(2) + "\n" : train::comparison_table(rows));
  });
}

}  // namespace mmfuse::tools
