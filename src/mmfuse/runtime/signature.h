// What a loaded run takes and gives, whatever its task: the inputs (one per modality, with the
// shape of a preprocessed item) and the outputs (one per head, embedding tower or generated
// target). A server describes a model with it (KServe v2 model metadata) and a client learns
// which fields to send.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mmfuse/core/modality.h"
#include "mmfuse/runtime/run.h"

namespace mmfuse::runtime {

/// One input: a modality the run reads, and its preprocessed item ([C, H, W], [T], [D]; -1 marks
/// a variable-length dimension). What a client sends is the raw field (encoded file, text,
/// numbers), not the item.
struct InputSignature {
  Modality modality = Modality::image;
  std::vector<int64_t> item_shape;
};

enum class OutputKind {
  classes,    ///< classification head: probabilities over `classes`
  labels,     ///< multilabel head: one probability per class in `classes`
  values,     ///< regression head: `shape[0]` numbers
  embedding,  ///< retrieval tower: unit vector [D] of `modality`
  generated,  ///< translation: target features [C, H, W] in [0, 1] of `modality`
};

/// "classes", "labels", "values", "embedding", "generated".
std::string to_string(OutputKind kind);

/// One output per sample.
struct OutputSignature {
  std::string name;  ///< target name, "embedding_<modality>" or "generated"
  OutputKind kind = OutputKind::classes;
  std::vector<int64_t> shape;           ///< per sample ([K], [D], [C, H, W])
  std::vector<std::string> classes;     ///< classes and labels: names in index order
  Modality modality = Modality::image;  ///< embedding and generated: which modality
};

struct Signature {
  models::TaskKind task = models::TaskKind::supervised;
  std::vector<InputSignature> inputs;    ///< in Modality order
  std::vector<OutputSignature> outputs;  ///< heads in config order; towers query first
  /// Translation: the one modality a request must give. Retrieval: a request gives exactly one
  /// of the inputs. Supervised: any subset of the inputs.
  /// {"task", "inputs": [{"name", "item_shape"}], "outputs": [{"name", "kind", "shape",
  ///  "classes"?, "modality"?}]}
  nlohmann::json to_json() const;
};

/// The signature of a loaded run (no forward is run).
Signature signature(const Run& run);

}  // namespace mmfuse::runtime
