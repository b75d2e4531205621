#include "mmfuse/train/cross_validation.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"
#include "mmfuse/train/trainer.h"

namespace mmfuse::train {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

// Refuses an out folder written by a cross-validation of other settings; else records these.
void claim_out_dir(const CrossValidationRequest& req, const RunConfig& config) {
  const json request = {{"config", config.root.dump()},
                        {"k", req.folds},
                        {"seed", req.seed},
                        {"stratify", req.stratify}};
  const std::string path = (fs::path(req.out_dir) / "request.json").string();
  if (fs::exists(path)) {
    json before = json::parse(read_file(path));
    if (!before.contains("stratify")) before["stratify"] = "";  // written before --stratify
    if (before != request) {
      throw UsageError(req.out_dir + " holds a cross-validation of another config, k, seed or " +
                       "stratification (" + path + "); give another --out");
    }
    return;
  }
  fs::create_directories(req.out_dir);
  write_file_atomic(path, request.dump(2) + "\n");
}

// The run's summary.json when it finished; else it is trained (resumed when it has a
// checkpoint), never reading the test split.
json finished_or_trained(const CrossValidationRequest& req, TrainRequest tr,
                         const std::vector<std::string>& overrides, const std::string& what) {
  const fs::path summary = fs::path(tr.run_dir) / "summary.json";
  if (fs::exists(summary)) {
    spdlog::info("{}: finished before, read from {}", what, tr.run_dir);
    return json::parse(read_file(summary.string()));
  }
  tr.resume = fs::exists(fs::path(tr.run_dir) / "checkpoints" / "last.safetensors");
  if (!tr.resume) tr.config = RunConfig::load(req.config_path, overrides);
  tr.evaluate_test = false;  // cross-validation never reads the test split
  tr.threads = req.threads;
  tr.progress = req.progress;
  spdlog::info("{}: {}", what, tr.resume ? "resumed" : "training");
  return run_training(tr).summary;
}

json run_fold(const CrossValidationRequest& req, int64_t fold, const std::string& dir) {
  TrainRequest tr;
  tr.run_dir = dir;
  tr.folds = data::FoldSpec{req.folds, fold, req.seed, req.stratify};
  return finished_or_trained(
      req, tr, req.overrides,
      "fold " + std::to_string(fold + 1) + " of " + std::to_string(req.folds));
}

// The final model: every train and val sample, `epochs` epochs, the last one kept.
json run_refit(const CrossValidationRequest& req, int64_t epochs, const std::string& dir) {
  TrainRequest tr;
  tr.run_dir = dir;
  tr.pool_val = true;
  std::vector<std::string> overrides = req.overrides;
  overrides.push_back("train.epochs=" + std::to_string(epochs));
  overrides.push_back("train.select=last");
  overrides.push_back("train.early_stopping=null");
  return finished_or_trained(req, tr, overrides,
                             "refit on train + val, " + std::to_string(epochs) + " epochs");
}

// Fold k's row of cv.json (plus "metric", its name), the fold trained or read back.
json fold_row(const CrossValidationRequest& req, int64_t k) {
  const std::string dir = (fs::path(req.out_dir) / ("fold_" + std::to_string(k))).string();
  const json s = run_fold(req, k, dir);
  return {{"fold", k},
          {"metric", s.value("metric_name", "")},
          {"val_metric", s.at("best_val_metric").get<double>()},
          {"best_epoch", s.value("best_epoch", int64_t{0})},
          {"train_samples", s.value("train_samples", int64_t{0})},
          {"val_samples", s.contains("val") ? s["val"].value("samples", int64_t{0}) : 0},
          {"run_dir", dir}};
}

}  // namespace

int64_t refit_epochs(std::vector<int64_t> e) {
  if (e.empty()) return 1;
  std::sort(e.begin(), e.end());
  const std::size_t n = e.size();
  const int64_t median = n % 2 == 1 ? e[n / 2] : (e[n / 2 - 1] + e[n / 2] + 1) / 2;
  return std::max<int64_t>(1, median);
}

void claim_cross_validation(const CrossValidationRequest& req) {
  if (req.folds < 2)
    throw UsageError("--folds must be at least 2, got " + std::to_string(req.folds));
  if (req.out_dir.empty()) throw UsageError("--out is required: the folder of the folds' runs");
  if (req.only_fold && (*req.only_fold < 0 || *req.only_fold >= req.folds)) {
    throw UsageError("--only-fold must be in [0, " + std::to_string(req.folds) + "), got " +
                     std::to_string(*req.only_fold));
  }
  claim_out_dir(req, RunConfig::load(req.config_path, req.overrides));
}

json cross_validate(const CrossValidationRequest& req) {
  claim_cross_validation(req);
  if (req.only_fold) return fold_row(req, *req.only_fold);
  json result = {
      {"k", req.folds}, {"seed", req.seed}, {"stratify", req.stratify}, {"folds", json::array()}};
  double sum = 0.0, sum_sq = 0.0;
  std::vector<int64_t> best_epochs;
  for (int64_t k = 0; k < req.folds; ++k) {
    json row = fold_row(req, k);
    const double metric = row.at("val_metric").get<double>();
    result["metric"] = row.at("metric");
    row.erase("metric");
    best_epochs.push_back(row.at("best_epoch").get<int64_t>());
    result["folds"].push_back(row);
    sum += metric;
    sum_sq += metric * metric;
  }
  const double n = static_cast<double>(req.folds);
  const double mean = sum / n;
  result["mean"] = mean;
  result["std"] = std::sqrt(std::max(0.0, (sum_sq - n * mean * mean) / (n - 1.0)));
  if (req.refit) {
    const int64_t epochs = refit_epochs(best_epochs);
    const std::string dir = (fs::path(req.out_dir) / "refit").string();
    const json s = run_refit(req, epochs, dir);
    result["refit"] = {{"epochs", epochs},
                       {"train_samples", s.value("train_samples", int64_t{0})},
                       {"run_dir", dir}};
  }
  write_file_atomic((fs::path(req.out_dir) / "cv.json").string(), result.dump(2) + "\n");
  return result;
}

std::string cross_validation_table(const json& result) {
  const std::string metric = result.value("metric", std::string("val metric"));
  const int w = static_cast<int>(std::max<std::size_t>(metric.size(), 6));
  std::string out = "fold  " + metric + "  best epoch  train / val samples\n";
  char line[256];
  for (const auto& f : result.at("folds")) {
    std::snprintf(line, sizeof line, "%4lld  %-*.4f  %10lld  %lld / %lld\n",
                  static_cast<long long>(f.at("fold").get<int64_t>()), w,
                  f.at("val_metric").get<double>(),
                  static_cast<long long>(f.at("best_epoch").get<int64_t>()),
                  static_cast<long long>(f.at("train_samples").get<int64_t>()),
                  static_cast<long long>(f.at("val_samples").get<int64_t>()));
    out += line;
  }
  std::snprintf(line, sizeof line, "mean  %.4f ± %.4f (standard deviation over %lld folds)\n",
                result.at("mean").get<double>(), result.at("std").get<double>(),
                static_cast<long long>(result.at("k").get<int64_t>()));
  out += line;
  if (result.contains("refit")) {
    const json& r = result["refit"];
    std::snprintf(line, sizeof line, "refit  %lld epochs on %lld train + val samples: ",
                  static_cast<long long>(r.at("epochs").get<int64_t>()),
                  static_cast<long long>(r.at("train_samples").get<int64_t>()));
    out += line + r.at("run_dir").get<std::string>() + "\n";
  }
  return out;
}

}  // namespace mmfuse::train
