#include "mmfuse/train/cross_validation.h"

#include <spdlog/spdlog.h>

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
    const json before = json::parse(read_file(path));
    if (before != request) {
      throw UsageError(req.out_dir + " holds a cross-validation of another config, k, seed or " +
                       "stratification (" + path + "); give another --out");
    }
    return;
  }
  fs::create_directories(req.out_dir);
  write_file_atomic(path, request.dump(2) + "\n");
}

// The fold's summary.json: read when the fold finished, else trained (resumed when it has a
// checkpoint).
json run_fold(const CrossValidationRequest& req, int64_t fold, const std::string& dir) {
  const fs::path summary = fs::path(dir) / "summary.json";
  if (fs::exists(summary)) {
    spdlog::info("fold {} of {}: finished before, read from {}", fold + 1, req.folds, dir);
    return json::parse(read_file(summary.string()));
  }
  TrainRequest tr;
  tr.run_dir = dir;
  tr.resume = fs::exists(fs::path(dir) / "checkpoints" / "last.safetensors");
  if (!tr.resume) tr.config = RunConfig::load(req.config_path, req.overrides);
  tr.folds = data::FoldSpec{req.folds, fold, req.seed, req.stratify};
  tr.evaluate_test = false;  // cross-validation never reads the test split
  tr.threads = req.threads;
  tr.progress = req.progress;
  spdlog::info("fold {} of {}: {}", fold + 1, req.folds, tr.resume ? "resumed" : "training");
  return run_training(tr).summary;
}

}  // namespace

json cross_validate(const CrossValidationRequest& req) {
  if (req.folds < 2)
    throw UsageError("--folds must be at least 2, got " + std::to_string(req.folds));
  if (req.out_dir.empty()) throw UsageError("--out is required: the folder of the folds' runs");
  const RunConfig config = RunConfig::load(req.config_path, req.overrides);
  claim_out_dir(req, config);
  json result = {
      {"k", req.folds}, {"seed", req.seed}, {"stratify", req.stratify}, {"folds", json::array()}};
  double sum = 0.0, sum_sq = 0.0;
  for (int64_t k = 0; k < req.folds; ++k) {
    const std::string dir = (fs::path(req.out_dir) / ("fold_" + std::to_string(k))).string();
    const json s = run_fold(req, k, dir);
    const double metric = s.at("best_val_metric").get<double>();
    result["metric"] = s.value("metric_name", "");
    result["folds"].push_back(
        {{"fold", k},
         {"val_metric", metric},
         {"best_epoch", s.value("best_epoch", 0)},
         {"train_samples", s.value("train_samples", 0)},
         {"val_samples", s.contains("val") ? s["val"].value("samples", 0) : 0},
         {"run_dir", dir}});
    sum += metric;
    sum_sq += metric * metric;
  }
  const double n = static_cast<double>(req.folds);
  const double mean = sum / n;
  result["mean"] = mean;
  result["std"] = std::sqrt(std::max(0.0, (sum_sq - n * mean * mean) / (n - 1.0)));
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
  return out + line;
}

}  // namespace mmfuse::train
