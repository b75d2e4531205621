// A trained retrieval run directory (retrieval/trainer.h) loaded for inference.
#pragma once

#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "mmfuse/core/config.h"
#include "mmfuse/data/dataset.h"
#include "mmfuse/retrieval/retrieval_config.h"
#include "mmfuse/retrieval/two_tower.h"

namespace mmfuse::retrieval {

struct RetrievalRun {
  std::string dir;
  ConfigNode config;
  RetrievalConfig rc;
  std::shared_ptr<data::Dataset> dataset;
  TwoTower model{nullptr};  ///< selected weights, eval mode
  std::string model_hash;   ///< hash of model.safetensors (indexes record it)
};

/// Throws Error naming the missing file when `run_dir` is not a finished run, or saying so when
/// it is a classification run.
RetrievalRun load_retrieval_run(const std::string& run_dir);

/// `mmfuse eval` of a retrieval run on a manifest: {"run_dir", "manifest", "task": "retrieval",
///  "metrics": evaluate_retrieval's JSON (both directions)}. Throws InputError for a bad manifest.
nlohmann::json evaluate_retrieval_run(const std::string& run_dir, const std::string& manifest,
                                      int64_t batch_size = 256, int threads = 2);

/// evaluate_retrieval_run's JSON as a table: one row per direction, one column per metric.
std::string format_retrieval_eval(const nlohmann::json& result);

}  // namespace mmfuse::retrieval
