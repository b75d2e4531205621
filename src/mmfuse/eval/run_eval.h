// `mmfuse eval`: a trained run of any task on any manifest with the run's fitted preprocessing.
// Supervised runs: every target's metrics, the model's cost, and optionally robustness (ablation
// and noise curves), which is also written into the run's summary.json and report.html.
// Retrieval runs: recall@K, precision@K, ranks and mAP in both directions. Translation runs: the
// reconstruction error (and the class head's accuracy when the translator has one).
#pragma once

#include <cstddef>

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mmfuse/core/memory.h"
#include "mmfuse/data/chunked_loader.h"
#include "mmfuse/eval/robustness.h"

namespace mmfuse::eval {

struct RunEvalRequest {
  std::string run_dir;
  std::string manifest;  ///< JSONL or CSV with the run's dataset fields
  int64_t batch_size = 64;
  int threads = 2;  ///< loader workers; intra-op threads are set by the caller
  int64_t top_k = 5;
  bool robustness = false;
  /// Audio noise folder; empty: the dataset's noise/ folder, else ../shared/data/noise when
  /// present.
  std::string noise_dir;
  std::vector<double> levels = {0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9};
  uint64_t seed = 0;
  bool complexity = true;
  /// Manifest lines held at once by the metrics pass (rounded up to whole batches;
  /// data/chunked_loader.h): its memory does not grow with the manifest.
  std::size_t chunk_samples = data::ChunkedLoader::kDefaultChunkSamples;
  /// With robustness: write it into run_dir/summary.json and re-render report.html.
  bool update_run = true;
  /// Memoize the encoders the run kept frozen for its whole training (runtime/frozen_memo.h):
  /// their rows for this manifest are read from the run's frozen-feature cache folder when
  /// another evaluation over the same pretrained encoder computed them. `--no-frozen-memo`: off.
  bool frozen_memo = true;
  /// `--memory-budget`: caps the RAM feature cache and the prefetch queue (core/memory.h).
  MemoryBudget memory;
};

/// {"run_dir", "manifest", "task", "memory" (MemoryReport::to_json), "metrics": ...,
/// "frozen_memo": {modality: {"computed", "read"}} when encoders were memoized} with, for
/// supervised runs, EvalResult::to_json as "metrics", "complexity", and with robustness
/// "robustness" and "ablation". A sample that cannot be decoded fails the evaluation (Error naming
/// its manifest line, field and file). Throws InputError (file, line, field) for a bad manifest
/// line or a label unseen in training, UsageError for robustness on a run that is not supervised.
nlohmann::json evaluate_run(const RunEvalRequest& request);

/// The noise folder used when none is given: `<dataset folder>/noise`, else `../shared/data/noise`
/// (relative to the working directory); "" when neither exists.
std::string default_noise_dir(const std::string& dataset_base_dir);

/// evaluate_run's JSON (any task) as human-readable tables.
std::string format_run_eval(const nlohmann::json& result);

}  // namespace mmfuse::eval
