// Which training pairs count as positives of each other in the contrastive loss.
//
// Paired data often repeats a query: the emoji names list one name for every skin tone of a
// gesture ("woman frowning" x 6 images). With one positive per row, InfoNCE pushes those
// identical queries away from each other's images, which no model can do; `same_query` makes
// all of them positives of each other (a soft target spread over the group, as for `labels`).
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include <torch/torch.h>

#include "mmfuse/core/config.h"
#include "mmfuse/core/modality.h"
#include "mmfuse/data/dataset.h"

namespace mmfuse::train {

/// The raw query field of a sample as a key: the text itself, an image's path (and IDX index),
/// an audio file's path (and its noise), tabular values. Samples without the field get "".
std::string query_key(const data::Sample& sample, Modality query);

/// Sample id -> group number; samples whose query keys are equal share a group.
class QueryGroups {
 public:
  QueryGroups() = default;
  QueryGroups(const data::SampleSet& samples, Modality query);

  /// [B] int64 group numbers of a batch's sample ids (an unknown id gets its own group).
  torch::Tensor labels(const std::vector<std::string>& ids) const;
  /// Number of distinct groups among the samples given to the constructor.
  int64_t size() const { return groups_; }

 private:
  std::unordered_map<std::string, int64_t> group_of_;
  int64_t groups_ = 0;
};

}  // namespace mmfuse::train
