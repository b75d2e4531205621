// What a model is built for: the shape of each modality's items and the kind and size of each
// target. Data pipelines report it (item_shape(), vocabulary, target specs); configs without data
// (summary, parity) give it in `inputs:` and `targets:` sections.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "mmfuse/core/config.h"
#include "mmfuse/core/modality.h"
#include "mmfuse/data/batch.h"
#include "mmfuse/nn/heads/head.h"

namespace mmfuse::models {

struct ModalityInput {
  /// One item as the pipeline gives it ([C,H,W], [T] token ids, [T,F] frames, [D]); -1 marks a
  /// variable-length dimension.
  std::vector<int64_t> item_shape;
  /// Vocabulary size when items are token ids (int64), 0 for float features.
  int64_t vocab_size = 0;
  /// The token of each id when the pipeline has a vocabulary (pretrained word vectors are looked
  /// up by it); empty otherwise.
  std::vector<std::string> vocabulary;
};

struct TargetSpec {
  heads::TaskKind kind = heads::TaskKind::classification;
  /// Classes (classification, multilabel), values (regression) or embedding size.
  int64_t size = 0;
};

struct ModelInputs {
  /// Keyed by Modality, so iteration follows the one fixed modality order.
  std::map<Modality, ModalityInput> modalities;
  std::map<std::string, TargetSpec> targets;

  /// From a config's sections:
  ///   inputs:  {image: [1, 28, 28], text: {shape: [-1], vocab: 5000}}
  ///   targets: {digit: {type: class, classes: 10}, age: {type: regression, size: 1}}
  /// Target types: class, multilabel (classes), regression, embedding (size).
  /// Throws ConfigError naming the path of any bad entry.
  static ModelInputs from_config(const ConfigNode& inputs, const ConfigNode& targets);

  /// "image [1, 28, 28], audio [1, 112, 112]" for messages.
  std::string describe_modalities() const;
};

/// Whether encoders load the weights their config's `pretrained:` names while a model is built
/// (nn/encoders/pretrained.h): `skip` when the weights come from elsewhere anyway (a trained run).
enum class PretrainedWeights { load, skip };

/// "class", "multilabel", "regression", "embedding" <-> TaskKind (unknown names list the known).
heads::TaskKind task_kind_from_string(const std::string& name);
std::string to_string(heads::TaskKind kind);

/// A batch of `batch` synthetic samples matching `inputs` (uniform [0,1) features, random token
/// ids below the vocabulary, every modality present, targets of the right kind), for summaries,
/// FLOP counts and tests. Variable-length dimensions (-1) get `seq_len`.
data::Batch example_batch(const ModelInputs& inputs, int64_t batch = 1, int64_t seq_len = 32);

}  // namespace mmfuse::models
