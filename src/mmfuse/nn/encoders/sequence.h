// Shared pieces of the sequence encoders (lstm, gru, transformer, embedding): how the input is
// read (token ids, frames, spectrograms), validity masks from lengths, and masked pooling.
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "mmfuse/data/batch.h"
#include "mmfuse/nn/encoders/config_enum.h"

namespace mmfuse::encoders {

/// How a sequence of per-step vectors becomes one vector.
enum class Pooling { mean, max, sum, last, cls };

/// The one string table of Pooling.
inline const EnumNames<Pooling>& pooling_names() {
  static const EnumNames<Pooling> names = {{Pooling::mean, "mean"},
                                           {Pooling::max, "max"},
                                           {Pooling::sum, "sum"},
                                           {Pooling::last, "last"},
                                           {Pooling::cls, "cls"}};
  return names;
}

inline std::string to_string(Pooling p) {
  return enum_name(p, pooling_names());
}

/// Reads `cfg[key]` (default `fallback`) as one of `allowed`; anything else fails at the key's
/// path listing the allowed names.
inline Pooling read_pooling(const ConfigNode& cfg, const std::string& key, Pooling fallback,
                            const std::vector<Pooling>& allowed) {
  EnumNames<Pooling> names;
  for (Pooling p : allowed) names.emplace_back(p, to_string(p));
  return read_enum(cfg, key, fallback, names);
}

/// How a sequence encoder reads its input.
enum class SequenceInput {
  token_ids,   ///< [B, T] int64 ids; per-item shape [T]
  frames,      ///< [B, T, F] float; per-item shape [T, F]
  spectrogram  ///< [B, 1, F, T] float, read as T frames of F features; per-item shape [1, F, T]
};

/// Kind of input from the per-item shape given by the data pipeline.
inline SequenceInput sequence_input_from_shape(const std::vector<int64_t>& shape,
                                               const ConfigNode& cfg) {
  if (shape.size() == 1) return SequenceInput::token_ids;
  if (shape.size() == 2) return SequenceInput::frames;
  if (shape.size() == 3 && shape[0] == 1) return SequenceInput::spectrogram;
  std::string got;
  for (int64_t d : shape) got += (got.empty() ? "" : ", ") + std::to_string(d);
  cfg.fail(
      "expected a per-item input shape [T] (token ids), [T, F] (frames) or [1, F, T] "
      "(spectrogram), got [" +
      got + "]; use an image encoder (lenet, resnet) for images");
}

/// Features per step: F of frames / spectrograms (0 for token ids).
inline int64_t sequence_feature_size(SequenceInput kind, const std::vector<int64_t>& shape) {
  switch (kind) {
    case SequenceInput::frames:
      return shape[1];
    case SequenceInput::spectrogram:
      return shape[1];
    default:
      return 0;
  }
}

/// data: token ids [B, T] stay as they are; frames [B, T, F] stay; spectrogram [B, 1, F, T] ->
/// [B, T, F]. Checks the rank and, for float input, F == `features`.
inline torch::Tensor sequence_steps(const torch::Tensor& data, SequenceInput kind, int64_t features,
                                    const char* encoder) {
  switch (kind) {
    case SequenceInput::token_ids:
      TORCH_CHECK(data.dim() == 2 && data.scalar_type() == torch::kInt64, encoder,
                  ": expected token ids [B, T] int64, got ", data.sizes(), " ", data.scalar_type(),
                  "; frames need a per-item shape [T, F]");
      return data;
    case SequenceInput::frames:
      TORCH_CHECK(data.dim() == 3 && data.size(2) == features, encoder, ": expected frames [B, T, ",
                  features, "], got ", data.sizes(),
                  "; check the feature size of the audio pipeline");
      return data;
    case SequenceInput::spectrogram:
      TORCH_CHECK(data.dim() == 4 && data.size(1) == 1 && data.size(2) == features, encoder,
                  ": expected a spectrogram [B, 1, ", features, ", T], got ", data.sizes());
      // Contiguous: a Linear over a transposed view runs as a bmm, which int8 runs cannot hook.
      return data.squeeze(1).transpose(1, 2).contiguous();
  }
  return data;
}

/// lengths: [B] int64 valid steps (undefined: all `steps` valid). Returns [B] int64 on the CPU,
/// clamped to [1, steps] so absent samples (length 0) still have one step to compute from.
inline torch::Tensor clamp_lengths(const torch::Tensor& lengths, int64_t batch, int64_t steps) {
  if (!lengths.defined()) return torch::full({batch}, steps, torch::kInt64);
  TORCH_CHECK(lengths.dim() == 1 && lengths.size(0) == batch, "expected lengths [", batch,
              "], got ", lengths.sizes());
  auto l = lengths.to(torch::kCPU, torch::kInt64);
  TORCH_CHECK(l.max().item<int64_t>() <= steps, "a sequence length (", l.max().item<int64_t>(),
              ") exceeds the padded length T = ", steps, "; the batch and its lengths disagree");
  return l.clamp(1, steps);
}

/// lengths: [B] -> [B, T] bool, true for valid steps.
inline torch::Tensor lengths_to_mask(const torch::Tensor& lengths, int64_t steps,
                                     const torch::Device& device) {
  auto positions = torch::arange(steps, torch::TensorOptions().dtype(torch::kInt64).device(device));
  return positions.unsqueeze(0) < lengths.to(device).unsqueeze(1);
}

/// tokens: [B, T, D], mask: [B, T] bool (true = valid, at least one per row) -> [B, D].
inline torch::Tensor masked_pool(const torch::Tensor& tokens, const torch::Tensor& mask,
                                 Pooling pooling) {
  auto m = mask.unsqueeze(2).to(tokens.dtype());
  switch (pooling) {
    case Pooling::sum:
      return (tokens * m).sum(1);
    case Pooling::mean:
      return (tokens * m).sum(1) / m.sum(1).clamp_min(1);
    case Pooling::max:
      return tokens.masked_fill(~mask.unsqueeze(2), -std::numeric_limits<float>::infinity())
          .amax(1);
    default:
      break;
  }
  TORCH_CHECK(false, "masked_pool supports mean, max and sum, got ", to_string(pooling));
  return tokens;
}

}  // namespace mmfuse::encoders
