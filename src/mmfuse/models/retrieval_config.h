// The `retrieval:` section of a run config (`task: retrieval`), parsed once into a typed struct.
//
//   task: retrieval
//   retrieval:
//     modalities: [text, image]   # the two towers: query, candidate (both directions are
//     evaluated) dim: 128                    # embedding size (projection output, L2-normalised)
//     projection: {hidden: 0}     # projection head per tower: 0 = one Linear, else an MLP
//     temperature: 0.07           # initial temperature; logit scale exp(s) is learned
//     max_scale: 100              # clamp of the logit scale
//     labels: ""                  # class target: equal labels are relevant (AV-MNIST: digit);
//                                 # "" = paired retrieval (sample i's text <-> sample i's image)
//     positives: pair             # training only: pair | same_query (pairs with identical
//                                 # queries are positives of each other; see positives.h)
//     ks: [1, 5, 10]              # K of recall@K / precision@K
//   model:
//     encoders: {text: {type: embedding, dim: 256}, image: {type: resnet, ...}}
//   train: {...}                  # as for classification (train/train_config.h)
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mmfuse/core/config.h"
#include "mmfuse/core/modality.h"

namespace mmfuse::models {

/// Which training pairs are positives of each other (train/positives.h): `pair` (row i with
/// column i) or `same_query` (pairs whose raw query fields are equal).
enum class Positives { pair, same_query };

/// "pair" | "same_query"; anything else fails at `node` listing both.
Positives positives_from_config(const ConfigNode& node);
std::string to_string(Positives p);

struct RetrievalConfig {
  Modality query = Modality::text;
  Modality candidate = Modality::image;
  int64_t dim = 128;
  int64_t projection_hidden = 0;
  double temperature = 0.07;
  double max_scale = 100.0;
  std::string labels;                     ///< "" for paired retrieval
  Positives positives = Positives::pair;  ///< training positives when `labels` is empty
  std::vector<int64_t> ks = {1, 5, 10};

  /// The validation metric that selects the best epoch: the mean of R@K over both directions
  /// and every K (paired), or of P@max(K) over both directions (labels).
  std::string select_metric_name() const;

  /// From the root of a run config. Throws ConfigError naming `retrieval.<key>`.
  static RetrievalConfig from_config(const ConfigNode& root);
};

}  // namespace mmfuse::models
