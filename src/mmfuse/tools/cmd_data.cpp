// `mmfuse data ...`: dataset tools. `data check MANIFEST` parses, checks and decodes a manifest.
#include <iostream>

#include "mmfuse/data/manifest_check.h"
#include "mmfuse/tools/cli.h"

namespace mmfuse::tools {

namespace {

struct CheckArgs {
  std::string manifest;
  std::string spec;
  bool strict = false;
  bool json = false;
  int threads = 2;
};

void run_check(const CheckArgs& a) {
  data::CheckOptions opt;
  if (!a.spec.empty()) opt.spec = data::DatasetSpec::load(a.spec);
  opt.strict = a.strict;
  opt.threads = a.threads;
  data::CheckReport report = data::check_manifest(a.manifest, opt);
  if (a.json) {
    std::cout << report.to_json().dump(2) << "\n";
  } else {
    std::cout << report.to_text();
  }
  if (!report.problems.empty()) {
    throw Error(std::to_string(report.problems.size()) + " problem(s) in " + a.manifest +
                "; fix the lines listed above (training skips them with skip_bad: true)");
  }
}

}  // namespace

void add_data_commands(CLI::App& app) {
  auto* data = app.add_subcommand("data", "Dataset tools (manifests, caches)");
  data->require_subcommand(1);

  auto args = std::make_shared<CheckArgs>();
  auto* check = data->add_subcommand(
      "check", "Parse a manifest, check its files and decode every sample; exit 1 on problems");
  check->add_option("manifest", args->manifest, "JSONL or CSV manifest")->required();
  check->add_option("--spec", args->spec,
                    "Dataset spec (YAML) giving field names, targets and pipeline options");
  check->add_flag("--strict", args->strict, "Stop at the first problem");
  check->add_option("--threads", args->threads, "Decoding threads")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  check->add_flag("--json", args->json, "Print the report as JSON");
  check->callback([args] { run_check(*args); });
}

}  // namespace mmfuse::tools
