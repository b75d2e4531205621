// `mmfuse predict`: one sample given on the command line through a trained run. Any modality may
// be left out; the model then sees it absent (as a missing modality in a manifest).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mmfuse/data/batch.h"
#include "mmfuse/train/load_run.h"

namespace mmfuse::train {

struct PredictInput {
  std::optional<std::string> image;  ///< image file
  std::optional<std::string> audio;  ///< audio file
  std::optional<std::string> text;   ///< UTF-8 text
  std::optional<std::vector<float>> tabular;
};

/// One sample made of `input` as a batch of one, through `dataset`'s fitted preprocessing;
/// `given` (when not null) receives the names of the given modalities (none given: every modality absent).
/// Throws as predict() does.
data::Batch input_batch(const std::shared_ptr<data::Dataset>& dataset, const PredictInput& input,
                        nlohmann::json* given = nullptr);

/// {"modalities": [given ones], "targets": {name: {"kind": "classification", "class": name,
///  "index": i, "probabilities": {class: p, ...}} | {"kind": "regression", "value": [..]}}}.
/// Throws UsageError for a modality the run does not use or no input at all, and InputError
/// naming the file for an unreadable one.
nlohmann::json predict(const LoadedRun& run, const PredictInput& input);

/// "1,2.5,-3" -> {1, 2.5, -3}; throws UsageError naming the bad item.
std::vector<double> parse_numbers(const std::string& text);

}  // namespace mmfuse::train
