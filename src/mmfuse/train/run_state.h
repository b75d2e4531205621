// What a run keeps between steps and across a resume: the trainer state stored in checkpoints,
// the metrics.jsonl log, and the end of a run (test evaluation, summary.json, report.html).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "mmfuse/data/dataset.h"
#include "mmfuse/data/loader.h"
#include "mmfuse/models/model.h"
#include "mmfuse/train/trainer.h"

namespace mmfuse::train {

struct RunState {
  data::LoaderPosition position;  ///< next batch to train on
  int64_t step = 0;               ///< optimizer steps taken
  int64_t samples_seen = 0;
  double epoch_loss_sum = 0.0;  ///< of the current epoch so far
  int64_t epoch_batches = 0;
  bool has_best = false;
  double best_metric = 0.0;
  int64_t best_epoch = 0;
  int64_t bad_epochs = 0;  ///< epochs without improvement (early stopping)
  bool stopped_early = false;
  double train_seconds = 0.0;
  nlohmann::json schedule = nlohmann::json::object();
  nlohmann::json history = nlohmann::json::array();  ///< one entry per finished epoch
  uint64_t metrics_bytes = 0;  ///< metrics.jsonl size at this state (resume truncates to it)

  nlohmann::json to_json() const;
  static RunState from_json(const nlohmann::json& j);
};

/// Append-only JSON-lines log, flushed per line; bytes() is its size.
class MetricsLog {
 public:
  explicit MetricsLog(const std::string& path);
  void write(const nlohmann::json& line);
  uint64_t bytes() const { return bytes_; }

 private:
  std::string path_;
  uint64_t bytes_ = 0;
};

/// Cuts `path` to `bytes` (0: empties or creates it), dropping lines of a run past its checkpoint.
void truncate_metrics(const std::string& path, uint64_t bytes);

/// What finish_run needs from the trainer.
struct RunOutcome {
  std::string dir;
  ConfigNode config;
  std::shared_ptr<data::Dataset> dataset;
  models::MultimodalModel model;
  std::shared_ptr<const data::SampleSet> test;
  data::LoaderOptions eval_loader;
  torch::Device device;
  double wall_seconds = 0.0;
  bool evaluate_test = true;
};

/// Evaluates the test split (when present and asked), writes summary.json and report.html.
TrainResult finish_run(const RunOutcome& outcome, const RunState& state);

}  // namespace mmfuse::train
