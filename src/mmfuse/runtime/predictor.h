// Batched inference on a loaded run (runtime/run.h) from in-memory requests (runtime/request.h):
// the runtime's model instance (Triton's split: the Run is loaded once and read-only; a Predictor
// call preprocesses its requests with the run's fitted pipelines and runs ONE forward for all).
//
//   auto run = runtime::load_run("runs/lf");
//   runtime::Predictor predictor(run);
//   auto out = predictor.predict({request_a, request_b});   // one batch of 2
//
// Thread safety: every method is const and keeps no mutable state: several threads may call one
// Predictor at once (each call runs its own forward without gradients; the model stays in eval
// mode). A bad input throws InputError naming the request and the field
// ("request 2: field 'image': upload.png: cannot decode image ...").
#pragma once

#include <array>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <torch/torch.h>
#include <nlohmann/json.hpp>

#include "mmfuse/data/batch.h"
#include "mmfuse/runtime/request.h"
#include "mmfuse/runtime/run.h"

namespace mmfuse::runtime {

/// One head's prediction for one request.
struct HeadPrediction {
  heads::TaskKind kind = heads::TaskKind::classification;
  int64_t index = -1;                 ///< classification: the most probable class
  std::string label;                  ///< its name
  std::vector<std::string> classes;   ///< class names in index order
  std::vector<float> probabilities;   ///< softmax, in class order
  std::vector<float> values;          ///< regression (and other kinds): the head's outputs
};

/// A supervised run's prediction for one request.
struct Prediction {
  std::vector<Modality> modalities;               ///< the modalities the request gave
  std::map<std::string, HeadPrediction> targets;  ///< by target name

  /// {"modalities": [...], "targets": {name: {"kind": "classification", "class", "index",
  ///  "probabilities": {class: p}} | {"kind": "regression", "value": [...]}}}
  nlohmann::json to_json() const;
};

/// A request preprocessed: one finalized item per given modality (undefined where absent).
struct Prepared {
  std::array<torch::Tensor, kNumModalities> items;
  std::vector<Modality> modalities;
};

/// `prepared` with modality `m` left out, as if the request had not given it (the items are
/// shared, nothing is preprocessed again): what the prediction is without that modality.
Prepared leave_out(const Prepared& prepared, Modality m);

class Predictor {
 public:
  explicit Predictor(std::shared_ptr<const Run> run);

  const Run& run() const { return *run_; }
  std::shared_ptr<const Run> run_ptr() const { return run_; }

  /// The run's fitted preprocessing of one request (`index` names it in errors when its id is
  /// empty). Throws InputError for undecodable bytes, invalid UTF-8, non-finite numbers or a
  /// modality the run does not use.
  Prepared prepare(const Request& request, int64_t index = 0) const;
  /// Prepared requests -> one batch [N, ...] on the run's device (absent modalities zeroed and
  /// marked absent, as the loader does).
  data::Batch collate(const std::vector<Prepared>& prepared) const;

  /// Supervised runs: one forward over all requests -> one Prediction per request.
  std::vector<Prediction> predict(const std::vector<Request>& requests) const;
  std::vector<Prediction> predict(const std::vector<Prepared>& prepared) const;

  /// Retrieval runs: [N, D] unit-norm embeddings of modality `m` (every request must give it).
  torch::Tensor embed(Modality m, const std::vector<Request>& requests) const;
  torch::Tensor embed(Modality m, const std::vector<Prepared>& prepared) const;

  /// Translation runs: generated targets [N, C, H, W] in [0, 1] (every request gives the source).
  torch::Tensor translate(const std::vector<Request>& requests) const;
  torch::Tensor translate(const std::vector<Prepared>& prepared) const;

 private:
  std::vector<Prepared> prepare_all(const std::vector<Request>& requests) const;
  void require_all(const std::vector<Prepared>& prepared, Modality m) const;

  std::shared_ptr<const Run> run_;
};

}  // namespace mmfuse::runtime
