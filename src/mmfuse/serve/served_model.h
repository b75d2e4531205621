// One model being served: the loaded run (read-only, shared by every thread), its signature and,
// for supervised runs, the dynamic batcher that runs one forward per batch (Triton's split of
// model state and scheduler: handler threads preprocess their own request, the batcher thread
// runs the forwards one at a time).
#pragma once

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mmfuse/runtime/batcher.h"
#include "mmfuse/runtime/predictor.h"
#include "mmfuse/runtime/signature.h"
#include "mmfuse/serve/metrics.h"
#include "mmfuse/serve/options.h"

namespace mmfuse::serve {

class ServedModel {
 public:
  /// Requires: `metrics` outlives the model. Starts the batcher of a supervised run.
  ServedModel(std::string name, std::shared_ptr<const runtime::Run> run,
              const ServerOptions& options, Metrics& metrics);

  const std::string& name() const { return name_; }
  const runtime::Run& run() const { return predictor_.run(); }
  const runtime::Signature& signature() const { return signature_; }

  /// Supervised runs: each request preprocessed on the calling thread, then queued for a batched
  /// forward; one Prediction per request, each equal to that request predicted alone.
  /// Throws InputError (bad input), runtime::QueueFull, Unavailable (no answer within the
  /// timeout) and Error for a run of another task.
  std::vector<runtime::Prediction> predict(const std::vector<runtime::Request>& requests) const;

  /// KServe v2 model metadata: {"name", "versions", "platform", "inputs", "outputs",
  /// "parameters": {"task", "signature", "model_hash"}}.
  nlohmann::json v2_metadata() const;

 private:
  /// Blocks while `preprocess_slots_` requests are being preprocessed.
  void acquire_slot() const;
  void release_slot() const;

  std::string name_;
  runtime::Predictor predictor_;
  runtime::Signature signature_;
  std::chrono::milliseconds timeout_;
  int preprocess_slots_;
  mutable std::mutex slots_mu_;
  mutable std::condition_variable slots_cv_;
  mutable int slots_used_ = 0;
  std::unique_ptr<runtime::Batcher<runtime::Prediction>> batcher_;  // supervised runs only
};

}  // namespace mmfuse::serve
