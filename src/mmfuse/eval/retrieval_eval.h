// Embedding whole sample sets with a TwoTower and measuring retrieval in both directions.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mmfuse/core/collective.h"
#include "mmfuse/data/dataset.h"
#include "mmfuse/models/retrieval_config.h"
#include "mmfuse/models/two_tower.h"

namespace mmfuse::eval {

struct EmbedOptions {
  int64_t batch_size = 256;
  int threads = 2;  ///< loader workers
  /// Data-parallel evaluation: the samples given are this process's shard; vectors and labels
  /// are gathered from every process (ids and rows stay this process's own).
  const Collective* collective = nullptr;
};

/// Samples of one set embedded by one tower.
struct Embeddings {
  std::vector<std::string> ids;
  std::vector<int64_t> rows;  ///< index of each embedded sample in the set
  torch::Tensor vectors;      ///< [N, D] float, unit rows, CPU
  torch::Tensor labels;       ///< [N] int64 class of `label_target` (-1 unknown), or undefined
};

/// Embeds the samples of `samples` that have modality `m` (in set order), in eval mode without
/// gradients (the model's mode is restored). With `label_target`, also gathers that class target.
/// Throws Error naming the first sample that could not be read.
Embeddings embed_samples(models::TwoTower& model,
                         const std::shared_ptr<const data::Dataset>& dataset,
                         const std::shared_ptr<const data::SampleSet>& samples, Modality m,
                         const std::string& label_target = "", const EmbedOptions& options = {});

/// Both directions (query -> candidate and back) over the samples that have both modalities:
/// {"<q>_to_<c>": RetrievalMetrics::to_json, "<c>_to_<q>": ..., "select": the selection value,
///  "select_metric": its name}. Paired: relevance is the identity; with rc.labels: equal labels.
nlohmann::json evaluate_retrieval(models::TwoTower& model,
                                  const std::shared_ptr<const data::Dataset>& ds,
                                  const std::shared_ptr<const data::SampleSet>& samples,
                                  const models::RetrievalConfig& rc,
                                  const EmbedOptions& options = {});

}  // namespace mmfuse::eval
