// `mmfuse cv`: k-fold cross-validation of one run config over its train and val manifests pooled
// (data/dataset_spec.h FoldSpec). Each of the K runs fits the preprocessing and trains on K - 1
// folds and selects its epoch on the fold held out; none reads the test split. The folds' mean
// validation metric compares settings on every labelled sample instead of one small val split.
//
//   mmfuse cv --config C --folds 5 [--seed 0] [--stratify TARGET] [--refit] --out DIR
//             [key=value ...]
//
//   DIR/fold_<k>/    each fold's run (a finished fold is read, not trained again; an interrupted
//                    one resumes from its last checkpoint)
//   DIR/cv.json      {"metric", "k", "seed", "folds": [{"fold", "val_metric", "best_epoch",
//                    "train_samples", "val_samples", "run_dir"}], "mean", "std"} (written
//                    atomically; std is the sample standard deviation over the folds)
//   DIR/refit/       with --refit: the final model, trained on every train and val sample for the
//                    median of the folds' best epochs and taken at its last epoch (no validation;
//                    the test split is not read: evaluate it with `mmfuse eval`); cv.json then
//                    holds "refit": {"epochs", "train_samples", "run_dir"}
//   DIR/request.json the config (overrides applied), k, seed and stratify: a later call with
//                    other ones into the same DIR is refused instead of mixing folds of two
//                    settings
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace mmfuse::train {

struct CrossValidationRequest {
  std::string config_path;
  std::vector<std::string> overrides;  ///< applied to every fold
  int64_t folds = 5;                   ///< K >= 2
  uint64_t seed = 0;                   ///< of the fold assignment (train.seed stays the config's)
  std::string stratify;                ///< class target every fold shares the classes of ("": none)
  std::string out_dir;
  bool refit = false;  ///< then train DIR/refit on train + val pooled (see above)
  /// Train (or read) this fold only and return its row of cv.json; cv.json is not written and
  /// no refit is trained (`mmfuse cv --jobs` runs each fold so, in a process of its own, and
  /// then the whole cross-validation, which reads the folds back).
  std::optional<int64_t> only_fold;
  std::optional<int> threads;  ///< overrides train.threads
  bool progress = true;
};

/// Checks the request (K >= 2, an out folder, a fold in range) and claims its out folder: refuses
/// one holding a cross-validation of other settings, else records these (DIR/request.json).
/// Throws UsageError.
void claim_cross_validation(const CrossValidationRequest& request);

/// Trains (or reads) every fold and returns what cv.json holds. Throws UsageError for K < 2 or an
/// out folder holding another cross-validation.
nlohmann::json cross_validate(const CrossValidationRequest& request);

/// The refit's epoch count: the median of the folds' best epochs (the mean of the two middle
/// ones, rounded half up, for an even count; at least 1).
int64_t refit_epochs(std::vector<int64_t> best_epochs);

/// cv.json as an aligned text table (one row per fold, then mean ± std).
std::string cross_validation_table(const nlohmann::json& result);

}  // namespace mmfuse::train
