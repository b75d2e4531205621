// Encoder family interface: one modality's batch -> Encoded (pooled [B, D], optional tokens).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mmfuse/core/modality.h"
#include "mmfuse/data/batch.h"
#include "mmfuse/nn/encoded.h"
#include "mmfuse/nn/registry.h"

namespace mmfuse::encoders {

/// What an encoder factory knows besides its own config.
struct EncoderContext {
  Modality modality = Modality::image;
  /// Shape of one input item as the data pipeline gives it ([C,H,W], [T] token ids, [D]...;
  /// -1 marks a variable-length dimension).
  std::vector<int64_t> input_shape;
  /// Vocabulary size when the input holds token ids (0 otherwise).
  int64_t vocab_size = 0;
  /// Token of each id (id_to_token) when the pipeline has a vocabulary; empty otherwise. Used to
  /// initialise embeddings from pretrained word vectors.
  std::vector<std::string> vocabulary;
  /// Whether make_encoder loads the config's `pretrained:` weights (pretrained.h); false when
  /// the weights come from elsewhere anyway (a trained run being loaded).
  bool load_pretrained = true;
};

/// Implemented by every encoder XImpl (alongside torch::nn::Cloneable<XImpl>).
class Encoder {
 public:
  virtual ~Encoder() = default;
  /// input.data: [B, ...] (see data::ModalityBatch) -> pooled [B, out_dim()], tokens optional.
  virtual nn::Encoded encode(const data::ModalityBatch& input) = 0;
  /// D of `pooled`.
  virtual int64_t out_dim() const = 0;
  /// Dt of `tokens`; 0 when the encoder gives no token sequence.
  virtual int64_t token_dim() const { return 0; }
};

using EncoderBlock = nn::Block<Encoder>;
using EncoderRegistry = nn::Registry<Encoder, EncoderContext>;

/// The built-in encoders (filled once by register_builtin_encoders).
const EncoderRegistry& encoder_registry();
void register_builtin_encoders(EncoderRegistry& r);

}  // namespace mmfuse::encoders
