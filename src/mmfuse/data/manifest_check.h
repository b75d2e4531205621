// `mmfuse data check` as a library function: parse every line of a manifest, check the files it
// references exist, decode every present modality through its pipeline, and summarise.
#pragma once

#include <array>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mmfuse/data/dataset_spec.h"
#include "mmfuse/data/manifest.h"
#include "mmfuse/data/pipeline_registry.h"

namespace mmfuse::data {

struct CheckOptions {
  /// Field names, targets and pipeline settings; none = every modality under its own name with
  /// the registered pipeline of that name and default options, and an optional `label` class.
  std::optional<DatasetSpec> spec;
  const PipelineRegistry* registry = nullptr;  ///< null = pipeline_registry()
  bool strict = false;  ///< the first problem (in manifest order) throws its InputError
  int threads = 2;
};

struct CheckReport {
  std::string manifest;
  int64_t samples = 0;  ///< lines that hold a sample (valid or not)
  int64_t valid = 0;
  std::array<int64_t, kNumModalities> with{};  ///< valid samples having each modality
  std::array<bool, kNumModalities> decoded{};  ///< a pipeline decoded it (else files only)
  /// Class target -> class -> valid samples having it.
  std::map<std::string, std::map<std::string, int64_t>> targets;
  /// Regression target -> valid samples having it.
  std::map<std::string, int64_t> regression;
  std::vector<std::string> notes;  ///< e.g. modalities checked only for file existence
  /// Text files that were not UTF-8, by the charset they were read as (encoding: auto).
  std::map<std::string, int64_t> text_fallbacks;
  std::vector<BadSample> problems;  ///< in manifest order

  nlohmann::json to_json() const;
  /// Human-readable summary, one problem per line.
  std::string to_text() const;
};

CheckReport check_manifest(const std::string& manifest, const CheckOptions& options);

}  // namespace mmfuse::data
