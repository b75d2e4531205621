// The text files of the default dataset: its spec (dataset.yaml) and README.md.
#pragma once

#include <string>

#include "mmfuse/data/default_dataset/make_default_dataset.h"

namespace mmfuse::data::default_dataset {

/// The dataset spec: splits, per-modality pipelines and the two targets.
std::string dataset_yaml(const DefaultDatasetOptions& options);

/// What the data is, how it was made, the options used and why the defaults are what they are.
std::string dataset_readme(const DefaultDatasetOptions& options,
                           const DefaultDatasetSummary& summary);

}  // namespace mmfuse::data::default_dataset
