// The optional high-level representation block between the fusion and the heads: an MLP over the
// fused vector (Linear -> [LayerNorm] -> ReLU -> [Dropout] per layer).
#pragma once

#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "mmfuse/core/config.h"

namespace mmfuse::models {

struct HighLevelMlpOptions {
  HighLevelMlpOptions(int64_t in_dim, std::vector<int64_t> hidden)
      : in_dim_(in_dim), hidden_(std::move(hidden)) {}
  /// Size of the fused vector it reads.
  TORCH_ARG(int64_t, in_dim);
  /// Width of each layer; the last one is the output size. Non-empty.
  TORCH_ARG(std::vector<int64_t>, hidden);
  /// Dropout probability after each layer's activation (0 = none).
  TORCH_ARG(double, dropout) = 0.0;
  /// LayerNorm after each Linear.
  TORCH_ARG(bool, layer_norm) = false;
};

class HighLevelMlpImpl : public torch::nn::Cloneable<HighLevelMlpImpl> {
 public:
  explicit HighLevelMlpImpl(HighLevelMlpOptions options);

  /// From `model.high_level: {type: mlp, hidden: [256, 128], dropout: 0.1, norm: layer}`
  /// (norm: none | layer). Throws ConfigError naming the path.
  static HighLevelMlpOptions options_from_config(int64_t in_dim, const ConfigNode& cfg);

  void reset() override;
  /// z: [B, in_dim] -> [B, out_dim()]
  torch::Tensor forward(const torch::Tensor& z);
  int64_t out_dim() const { return options.hidden().back(); }

  HighLevelMlpOptions options;

 private:
  torch::nn::Sequential net_{nullptr};
};
TORCH_MODULE(HighLevelMlp);

}  // namespace mmfuse::models
