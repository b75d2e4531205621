// `mmfuse compare --config C --fusions concat,tensor,low_rank [--out DIR]`: the rows, plus
// DIR/comparison.json and DIR/report.html; `mmfuse cv --config C --folds 5 --out DIR`: k-fold
// cross-validation over train + val (train/cross_validation.h), its folds in parallel processes
// with --jobs (tools/child_jobs.h)
#include <filesystem>
#include <iostream>

#include "mmfuse/core/error.h"
#include "mmfuse/runtime/request.h"  // parse_numbers
#include "mmfuse/tools/child_jobs.h"
#include "mmfuse/tools/cli.h"
#include "mmfuse/train/compare.h"
#include "mmfuse/train/cross_validation.h"

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
  auto fusion_list = std::make_shared<std::vector<std::string>>();
  auto no_robustness = std::make_shared<bool>(false);
  auto levels = std::make_shared<std::string>();
  cmd->add_option("--fusions", *fusions,
                  "Comma-separated fusion types (default: concat); `config` is the config's own "
                  "fusion; with composite specs ({...} YAML maps) separate them with ';'");
  cmd->add_option("--fusion", *fusion_list,
                  "One fusion (type, `config` or a YAML map); repeat for several (replaces "
                  "--fusions)");
  cmd->add_flag("--no-robustness", *no_robustness,
                "Skip the noise-robustness column (accuracy-vs-noise area per variant)");
  cmd->add_option("--noise-dir", req->noise_dir, "Audio noise files for the robustness column")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--levels", *levels, "Noise levels (default 0,0.1,...,0.9)");
  cmd->add_option("overrides", req->overrides, "Config overrides applied to every variant");
  cmd->add_option("--out,-o", req->out_dir, "Folder for the variants' runs")->required();
  cmd->add_flag("--no-single", *no_single, "Skip the single-modality models");
  cmd->add_flag("--json", *json_out, "Print the rows as JSON");
  auto quiet = std::make_shared<bool>(false);
  cmd->add_flag("--no-progress", *quiet, "No progress bar or lines on stderr");
  cmd->callback([=] {
    train::CompareRequest r = *req;
    r.fusions = fusion_list->empty() ? train::split_fusion_list(*fusions) : *fusion_list;
    r.single_modalities = !*no_single;
    r.progress = !*quiet;
    r.robustness = !*no_robustness;
    if (!levels->empty()) {
      r.levels = runtime::parse_numbers(*levels);
    }
    auto rows = train::run_comparison(r);
    std::cout << (*json_out ? rows.dump(2) + "\n" : train::comparison_table(rows));
  });
}

namespace {

// `mmfuse cv ... --only-fold k` for each fold, the request's options spelled out.
std::vector<ChildJob> cv_fold_jobs(const train::CrossValidationRequest& r) {
  std::vector<ChildJob> jobs;
  for (int64_t k = 0; k < r.folds; ++k) {
    ChildJob job;
    job.name = "fold " + std::to_string(k + 1) + " of " + std::to_string(r.folds);
    job.args = global_flags();  // the parent's logging and kernels
    job.args.insert(job.args.end(),
                    {"cv", "--config", r.config_path, "--folds", std::to_string(r.folds), "--seed",
                     std::to_string(r.seed), "--out", r.out_dir, "--only-fold", std::to_string(k),
                     "--no-progress"});
    if (!r.stratify.empty()) job.args.insert(job.args.end(), {"--stratify", r.stratify});
    if (r.threads) job.args.insert(job.args.end(), {"--threads", std::to_string(*r.threads)});
    job.args.push_back("--");
    job.args.insert(job.args.end(), r.overrides.begin(), r.overrides.end());
    job.log = (std::filesystem::path(r.out_dir) / ("fold_" + std::to_string(k) + ".log")).string();
    jobs.push_back(std::move(job));
  }
  return jobs;
}

// The folds in `jobs` processes at once; throws Error listing the failed folds.
void run_cv_folds_in_parallel(const train::CrossValidationRequest& r, int jobs) {
  train::claim_cross_validation(r);  // before any child: one request.json, checked once
  const auto failed = run_child_jobs(cv_fold_jobs(r), jobs);
  if (failed.empty()) return;
  std::string message = std::to_string(failed.size()) + " of " + std::to_string(r.folds) +
                        " folds failed (the finished ones are kept):";
  for (const auto& f : failed) message += "\n  " + f;
  throw Error(message);
}

}  // namespace

void add_cv_commands(CLI::App& app) {
  auto req = std::make_shared<train::CrossValidationRequest>();
  auto threads = std::make_shared<int>(0);
  auto jobs = std::make_shared<int>(1);
  auto only_fold = std::make_shared<int64_t>(-1);
  auto json_out = std::make_shared<bool>(false);
  auto quiet = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand(
      "cv",
      "k-fold cross-validation over the train and val manifests pooled: K runs, each selected on "
      "its held-out fold (the test split is never read); the folds' mean and spread");
  cmd->add_option("--config,-c", req->config_path, "Run config (YAML: data, model, train)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--folds,-k", req->folds, "Number of folds (at least 2)")
      ->check(CLI::Range(2, 100))
      ->capture_default_str();
  cmd->add_option("--seed", req->seed, "Seed of the fold assignment")->capture_default_str();
  cmd->add_option("--stratify", req->stratify,
                  "Class target whose classes every fold holds in proportion (stratified folds)");
  cmd->add_option("--out,-o", req->out_dir, "Folder of the folds' runs and cv.json")->required();
  cmd->add_flag("--refit", req->refit,
                "Then train the final model DIR/refit on train + val pooled, for the median of "
                "the folds' best epochs (its last epoch kept; evaluate it with mmfuse eval)");
  cmd->add_option("--jobs,-j", *jobs,
                  "Folds trained at once, each in a process of its own (logs in DIR/fold_K.log); "
                  "give each --threads cores / jobs")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd->add_option("--only-fold", *only_fold,
                  "Train (or read) this fold only and print its row (what --jobs runs)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--threads", *threads, "Intra-op threads (overrides train.threads)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("overrides", req->overrides, "Config overrides applied to every fold");
  cmd->add_flag("--json", *json_out, "Print cv.json instead of a table");
  cmd->add_flag("--no-progress", *quiet, "No progress bar or lines on stderr");
  cmd->callback([=] {
    train::CrossValidationRequest r = *req;
    if (*threads > 0) r.threads = *threads;
    r.progress = !*quiet;
    if (*only_fold >= 0) {
      r.only_fold = *only_fold;
      std::cout << train::cross_validate(r).dump(2) << "\n";
      return;
    }
    if (*jobs > 1) run_cv_folds_in_parallel(r, *jobs);  // then every fold is read back below
    const auto result = train::cross_validate(r);
    std::cout << (*json_out ? result.dump(2) + "\n" : train::cross_validation_table(result));
  });
}

}  // namespace mmfuse::tools
