// `mmfuse ensemble`: several finished supervised runs, or several retrieval runs, combined into
// one run directory that load_run loads like any other (so eval, predict, index, search and
// serve take it):
//
//   DIR/config.yaml        task: supervised | retrieval, data: (the first member's), the first
//                          member's retrieval: section, ensemble: {mode, members}
//   DIR/dataset.json       the members' fitted preprocessing: every modality some member reads
//                          (members that read the same modality must have fitted it alike, e.g.
//                          a text-only run and a text + image run on one data spec), the
//                          members' common targets
//   DIR/members/N/         each member's config.yaml, dataset.json, model.safetensors (copied,
//                          so DIR stands alone), summary.json when present
//   DIR/model.safetensors  the ensemble's state (every member under fusion.members.N., for
//                          retrieval under members.N.)
//   DIR/summary.json       {"ensemble": {"mode", "members": [source folders]}}
//
// The combination (mean of probabilities or majority vote, ties) is models/ensemble.h's; a
// retrieval ensemble's embedding is its members' concatenated (models/two_tower.h), so its
// cosine scores are the mean of theirs.
#pragma once

#include <string>
#include <vector>

#include "mmfuse/core/config.h"
#include "mmfuse/models/ensemble.h"
#include "mmfuse/models/two_tower.h"
#include "mmfuse/runtime/run.h"

namespace mmfuse::runtime {

struct EnsembleRequest {
  std::vector<std::string> runs;  ///< member run folders
  std::string out;                ///< new run folder (must not hold a run yet)
  models::EnsembleMode mode = models::EnsembleMode::mean;
};

/// Writes the ensemble run (see the top of this file); every file atomically. Throws Error naming
/// the member whose task, heads or classes differ from the first one's, or the two members that
/// read a modality through different preprocessing.
void write_ensemble_run(const EnsembleRequest& request);

/// The combined towers of a retrieval ensemble run folder `dir` (mode mean only).
models::TwoTower load_retrieval_ensemble(const std::string& dir, const ConfigNode& node,
                                         const RunLoadOptions& options);

/// The combined model of an ensemble run folder `dir` whose config has `ensemble:` (`node`):
/// each member loaded with load_run. Errors name the config path.
models::MultimodalModel load_ensemble_model(const std::string& dir, const ConfigNode& node,
                                            const RunLoadOptions& options);

}  // namespace mmfuse::runtime
