// What a run keeps between steps and across a resume: the trainer state stored in checkpoints,
// and the metrics.jsonl log.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "mmfuse/data/loader.h"

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
  nlohmann::json history = nlohmann::json::array();      ///< one entry per finished epoch
  nlohmann::json best_entry = nlohmann::json::object();  ///< the best epoch's entry
  nlohmann::json task_state = nlohmann::json::object();  ///< TrainTask::state()
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

}  // namespace mmfuse::train
