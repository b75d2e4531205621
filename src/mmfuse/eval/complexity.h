// How much a trained model costs: parameters, FLOPs per sample (models/summary.h), inference
// latency (median wall time of a forward pass, batch 1 and batch N, batches prebuilt so decoding
// is not counted), the process's peak resident memory (getrusage), and the training time.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <nlohmann/json.hpp>

#include "mmfuse/data/dataset.h"
#include "mmfuse/models/model.h"

namespace mmfuse::eval {

struct Complexity {
  int64_t params = 0;
  double flops_per_sample = 0;
  double latency_ms_batch1 = 0;  ///< p50 over up to `repeats` single samples
  double latency_ms_batchn = 0;  ///< p50 over up to `repeats` batches of batch_size
  int64_t batch_size = 0;
  double peak_rss_mb = 0;     ///< this process's maximum resident set so far
  double train_seconds = -1;  ///< from the run's summary.json; -1 when unknown

  /// {"params", "flops_per_sample", "latency_ms_batch1", "latency_ms_batch<N>", "peak_rss_mb",
  ///  "train_seconds"} (report.h's "complexity").
  nlohmann::json to_json() const;
};

/// Median of `v` (upper median for even sizes); 0 when empty.
double median(std::vector<double> v);

/// This process's peak resident set size in MiB (VmHWM, core/memory.h; else getrusage).
double peak_rss_mb();

/// Measures `model` on `samples` (at least one). Requires: samples read through `dataset`.
Complexity measure_complexity(models::MultimodalModel& model,
                              std::shared_ptr<const data::Dataset> dataset,
                              std::shared_ptr<const data::SampleSet> samples,
                              int64_t batch_size = 32, int repeats = 20);

}  // namespace mmfuse::eval
