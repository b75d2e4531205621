// An ensemble of trained supervised models as one MultimodalModel, so everything that evaluates,
// predicts or serves a model takes it unchanged:
//
//   encoders.<m>   pass each modality's batch through untouched (one per modality any member
//                  encodes);
//   fusion         runs every member on the rebuilt batch and combines its outputs per target;
//   heads.<t>      read target t's slice of the combination.
//
// Combination per target (members must have the same targets, kinds and sizes):
//   mean  classification: mean of the members' softmax probabilities; multilabel: mean of the
//         sigmoids; regression: mean of the values.
//   vote  classification only: each member votes for its arg-max class; the probability of class
//         k is (votes_k + mean probability_k) / (members + 1). Ties in votes go to the class with
//         the higher mean probability (it cannot overturn a one-vote difference), and exact ties
//         of both to the lower class index.
// The heads' outputs are logits of these probabilities (log p; log(p / (1 - p)) for multilabel),
// so softmax / sigmoid downstream gives them back exactly and losses are the ensemble's.
#pragma once

#include <string>
#include <vector>

#include "mmfuse/models/model.h"

namespace mmfuse::models {

enum class EnsembleMode { mean, vote };

/// "mean", "vote".
std::string to_string(EnsembleMode mode);
/// Inverse of to_string; throws UsageError listing the known names.
EnsembleMode ensemble_mode_from_string(const std::string& name);

/// The members combined (see the top of this file); `names` name the members in errors.
/// Throws Error naming the members and the target when their heads differ, or for vote without
/// classification heads. Requires: >= 1 member, each in eval mode for inference.
MultimodalModel make_ensemble(const std::vector<MultimodalModel>& members,
                              const std::vector<std::string>& names, EnsembleMode mode);

}  // namespace mmfuse::models
