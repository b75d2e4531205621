// One model being served: the loaded run (read-only, shared by every thread), its signature and,
// for supervised runs, the dynamic batcher that runs one forward per batch (Triton's split of
// model state and scheduler: handler threads preprocess their own request, the batcher thread
// runs the forwards one at a time). Retrieval runs hold the index their :search looks up;
// translation runs generate on the handler thread (one query, one forward: nothing to batch).
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mmfuse/data/image/idx.h"
#include "mmfuse/retrieval/index.h"
#include "mmfuse/runtime/batcher.h"
#include "mmfuse/runtime/predictor.h"
#include "mmfuse/runtime/signature.h"
#include "mmfuse/serve/metrics.h"
#include "mmfuse/serve/options.h"

namespace mmfuse::serve {

class ServedModel {
 public:
  /// Requires: `metrics` outlives the model. Starts the batcher of a supervised run; opens
  /// `index_dir` (retrieval runs only) and checks it was built with this run. Throws Error naming
  /// the index file and the fix otherwise.
  ServedModel(std::string name, std::shared_ptr<const runtime::Run> run,
              const ServerOptions& options, Metrics& metrics, const std::string& index_dir = "");

  const std::string& name() const { return name_; }
  const runtime::Run& run() const { return predictor_.run(); }
  const runtime::Signature& signature() const { return signature_; }

  /// Supervised runs: each request preprocessed on the calling thread, then queued for a batched
  /// forward; one Prediction per request, each equal to that request predicted alone.
  /// Throws InputError (bad input), runtime::QueueFull, Unavailable (no answer within the
  /// timeout) and Error for a run of another task.
  std::vector<runtime::Prediction> predict(const std::vector<runtime::Request>& requests) const;

  /// Retrieval runs: the top `k` of the index for one text, image or audio query, as
  /// `mmfuse search` prints it (retrieval/search.h); with `thumbnails`, each image hit also carries
  /// "thumbnail": a data: URI of a PNG at most kThumbnailSide pixels a side. Throws UsageError for
  /// another task or a run served without --index, InputError for a bad query.
  nlohmann::json search(const runtime::Request& query, int64_t k, bool thumbnails) const;

  /// Translation runs: the generated features [C, H, W] in [0, 1] of one input
  /// (translate/convert.h). Throws UsageError for another task or an input that is not the run's
  /// source modality.
  torch::Tensor translate(const runtime::Request& input) const;

  /// The index of a retrieval run served with one (null otherwise).
  const retrieval::VectorIndex* index() const { return index_.get(); }

  /// KServe v2 model metadata: {"name", "versions", "platform", "inputs", "outputs",
  /// "parameters": {"task", "signature", "model_hash"}}.
  nlohmann::json v2_metadata() const;

 private:
  /// Blocks while `preprocess_slots_` requests are being preprocessed.
  void acquire_slot() const;
  void release_slot() const;
  /// Throws UsageError unless the run's task is `kind`, naming the route that serves its task.
  void require_task(models::TaskKind kind, const std::string& route) const;

  std::string name_;
  runtime::Predictor predictor_;
  runtime::Signature signature_;
  std::chrono::milliseconds timeout_;
  int preprocess_slots_;
  mutable std::mutex slots_mu_;
  mutable std::condition_variable slots_cv_;
  mutable int slots_used_ = 0;
  std::unique_ptr<runtime::Batcher<runtime::Prediction>> batcher_;  // supervised runs only
  std::unique_ptr<retrieval::VectorIndex> index_;                   // retrieval runs only
  std::string index_dir_;
  mutable data::image::IdxCache thumbnail_items_;  // IDX files the thumbnails come from
};

}  // namespace mmfuse::serve
