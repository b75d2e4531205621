// Head family interface: representation [B, D] -> task output [B, K].
#pragma once

#include <cstdint>
#include <string>

#include "mmfuse/nn/registry.h"

namespace mmfuse::heads {

enum class TaskKind { classification, regression, multilabel, embedding };

struct HeadContext {
  int64_t in_dim = 0;
  /// Classes (classification/multilabel), outputs (regression) or embedding size.
  int64_t out_dim = 0;
  TaskKind kind = TaskKind::classification;
  std::string target;  ///< target name, for messages
};

/// Implemented by every head XImpl (alongside torch::nn::Cloneable<XImpl>).
class Head {
 public:
  virtual ~Head() = default;
  /// z: [B, in_dim] -> [B, out_dim] (logits, values or embeddings).
  virtual torch::Tensor predict(const torch::Tensor& z) = 0;
  virtual int64_t out_dim() const = 0;
};

using HeadBlock = nn::Block<Head>;
using HeadRegistry = nn::Registry<Head, HeadContext>;

const HeadRegistry& head_registry();
void register_builtin_heads(HeadRegistry& r);

}  // namespace mmfuse::heads
