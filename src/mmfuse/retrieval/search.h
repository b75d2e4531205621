// `mmfuse index build` and `mmfuse search`: a trained retrieval run's tower embeds a collection
// into a VectorIndex (index.h); a query of any of the run's modalities is embedded by its tower
// and looked up.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "mmfuse/retrieval/index.h"
#include "mmfuse/runtime/predictor.h"

namespace mmfuse::retrieval {

struct IndexBuildRequest {
  std::string run_dir;
  std::string manifest;  ///< JSONL/CSV with the run's dataset fields
  Modality modality = Modality::image;
  std::string out_dir;
  IndexOptions index;
  int64_t batch_size = 256;
  int threads = 2;  ///< loader workers
};

/// Embeds every sample of the manifest that has the modality and writes the index folder.
/// Returns manifest.json's content. Throws UsageError for a modality the run has no tower for,
/// Error naming the first unreadable sample.
nlohmann::json build_index(const IndexBuildRequest& request);

struct SearchRequest {
  std::string index_dir;
  std::string run_dir;
  runtime::Request query;  ///< exactly one of image, audio, text
  int64_t k = 10;
};

/// {"query": {"modality", "text" | "file"}, "index": dir, "k", "results": [{"rank", "id",
///  "score", "row", metadata...}]}. Throws Error when the index does not fit the run (other
/// weights, modality without a tower, other dimension), naming the file and what to do.
nlohmann::json search(const SearchRequest& request);

/// search() with an already loaded run and index (no checks of the files again).
nlohmann::json search(const runtime::Predictor& predictor, const VectorIndex& index,
                      const std::string& index_dir, const runtime::Request& query, int64_t k);

/// Throws Error when `index` was not built by `run` (model hash), or with a dimension or a
/// modality the run cannot embed.
void check_index_fits(const VectorIndex& index, const std::string& index_dir,
                      const runtime::Run& run);

}  // namespace mmfuse::retrieval
