// Helpers shared by the fusions: input checks, presence masks, masked softmax / mean, per-modality
// projections and learned placeholders. Everything here follows the inputs' device and dtype.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "mmfuse/core/config.h"
#include "mmfuse/nn/encoded.h"
#include "mmfuse/nn/fusion/fusion.h"

namespace mmfuse::fusion {

/// Checks the fusion contract: one input per modality, pooled [B, dims[i]], same B everywhere,
/// present [B] when defined. `who` names the fusion in the message.
inline void check_inputs(const char* who, const std::vector<nn::Encoded>& inputs,
                         const std::vector<int64_t>& dims) {
  TORCH_CHECK(inputs.size() == dims.size(), who, " fusion expected ", dims.size(),
              " modalities (as in its FusionContext), got ", inputs.size(),
              "; pass one Encoded per modality in the context's order");
  TORCH_CHECK(!inputs.empty() && inputs[0].pooled.defined(), who,
              " fusion expected pooled [B, D] tensors, got an undefined one");
  const int64_t batch = inputs[0].pooled.size(0);
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const auto& p = inputs[i].pooled;
    TORCH_CHECK(p.defined() && p.dim() == 2 && p.size(0) == batch && p.size(1) == dims[i], who,
                " fusion expected input ", i, " pooled of shape [", batch, ", ", dims[i], "], got ",
                p.defined() ? p.sizes() : torch::IntArrayRef{},
                "; check the encoder's out_dim against the FusionContext");
    const auto& pr = inputs[i].present;
    TORCH_CHECK(!pr.defined() || (pr.dim() == 1 && pr.size(0) == batch), who,
                " fusion expected input ", i, " present of shape [", batch, "], got ", pr.sizes());
  }
}

/// Input i's presence as [B] bool (all true when `present` is undefined).
inline torch::Tensor present_of(const nn::Encoded& e) {
  if (e.present.defined()) return e.present.to(torch::kBool);
  return torch::ones({e.pooled.size(0)}, e.pooled.options().dtype(torch::kBool));
}

/// Presence of every input: [B, M] bool.
inline torch::Tensor presence_matrix(const std::vector<nn::Encoded>& inputs) {
  std::vector<torch::Tensor> cols;
  for (const auto& e : inputs) cols.push_back(present_of(e));
  return torch::stack(cols, 1);
}

/// present: [B, M] bool -> [B, M] bool, where a row with nothing present becomes all true: what
/// a sample with no modality at all falls back to (the encoders' outputs for empty inputs).
inline torch::Tensor usable_mask(const torch::Tensor& present) {
  return present | present.logical_not().all(1, /*keepdim=*/true);
}

/// scores: [B, M, ...], present: [B, M] bool (or [B, M, 1, ...]) -> softmax over dim 1 across the
/// present entries of each row (absent entries get exactly 0). A row with nothing present falls
/// back to all entries, so the result is always finite and sums to 1.
inline torch::Tensor masked_softmax(const torch::Tensor& scores, const torch::Tensor& present) {
  return torch::softmax(scores.masked_fill(usable_mask(present).logical_not(), -INFINITY), 1);
}

/// tokens: [B, T, D], mask: [B, T] bool (true = real) or undefined -> mean over real tokens
/// [B, D] (zeros for a row without real tokens; callers replace such rows).
inline torch::Tensor masked_mean(const torch::Tensor& tokens, const torch::Tensor& mask) {
  if (!mask.defined()) return tokens.mean(1);
  auto m = mask.to(tokens.dtype()).unsqueeze(2);
  return (tokens * m).sum(1) / m.sum(1).clamp_min(1.0);
}

/// Token mask of input e as [B, T] bool, all true when undefined (requires tokens).
inline torch::Tensor token_mask_of(const nn::Encoded& e) {
  if (e.token_mask.defined()) return e.token_mask.to(torch::kBool);
  return torch::ones({e.tokens.size(0), e.tokens.size(1)}, e.tokens.options().dtype(torch::kBool));
}

/// Checks that input i has tokens [B, T, dt].
inline void check_tokens(const char* who, const nn::Encoded& e, std::size_t i, int64_t dt) {
  TORCH_CHECK(e.tokens.defined() && e.tokens.dim() == 3 && e.tokens.size(2) == dt, who,
              " fusion expected input ", i, " tokens of shape [B, T, ", dt, "], got ",
              e.tokens.defined() ? e.tokens.sizes() : torch::IntArrayRef{},
              "; use an encoder that keeps its token sequence (token_dim > 0)");
}

/// A ModuleList of Linear(dims[i] -> out), registered on `owner` as `name` ("proj.0", ...).
inline torch::nn::ModuleList register_projections(torch::nn::Module& owner, const std::string& name,
                                                  const std::vector<int64_t>& dims, int64_t out) {
  torch::nn::ModuleList list;
  for (int64_t d : dims) list->push_back(torch::nn::Linear(d, out));
  return owner.register_module(name, list);
}

/// projections[i] (a Linear of register_projections) applied to tokens [B, T, D_i] -> [B, T, out].
/// Contiguous first: encoders hand out transposed token views (a LeNet's [B, C, HW] map as
/// [B, HW, C]), which at::linear would send through a batched bmm instead of one addmm — the
/// product int8 runs hook (nn/quant/hooks.h); a bmm'd layer would never be calibrated.
inline torch::Tensor project_tokens(torch::nn::ModuleList projections, std::size_t i,
                                    const torch::Tensor& tokens) {
  return projections[i]->as<torch::nn::Linear>()->forward(tokens.contiguous());
}

/// Learned placeholders `prefix0`, `prefix1`, ... of sizes dims[i], initialised to `init`.
inline std::vector<torch::Tensor> register_placeholders(torch::nn::Module& owner,
                                                        const std::string& prefix,
                                                        const std::vector<int64_t>& dims,
                                                        double init = 0.0) {
  std::vector<torch::Tensor> out;
  for (std::size_t i = 0; i < dims.size(); ++i) {
    out.push_back(
        owner.register_parameter(prefix + std::to_string(i), torch::full({dims[i]}, init)));
  }
  return out;
}

/// [B] bool: whether each sample has at least one of the inputs.
inline torch::Tensor any_present(const std::vector<nn::Encoded>& inputs) {
  return presence_matrix(inputs).any(1);
}

/// A fusion output as the input of another fusion (a pseudo-modality): pooled = fused [B, D],
/// present = `present` [B], no tokens.
inline nn::Encoded as_pseudo_input(const torch::Tensor& fused, const torch::Tensor& present) {
  nn::Encoded e;
  e.pooled = fused;
  e.present = present;
  return e;
}

/// The fusion name of a child fusion's config (composite, pipeline): the scalar itself
/// (`concat`) or the map's `type` (`{type: low_rank, rank: 8}`).
inline std::string fusion_type_of(const ConfigNode& cfg) {
  if (cfg.is_scalar()) return cfg.as<std::string>();
  if (cfg.is_map()) return cfg.get<std::string>("type");
  cfg.fail("expected a fusion name or a map with `type`, e.g. {type: low_rank, rank: 8}");
}

/// Reads a positive integer option `key` (fallback when absent) and fails at its path otherwise.
inline int64_t positive_option(const ConfigNode& cfg, const std::string& key, int64_t fallback) {
  auto v = cfg.get<int64_t>(key, fallback);
  if (v <= 0) cfg[key].fail("expected a positive integer, got " + std::to_string(v));
  return v;
}

/// Reads a string option that must be one of `allowed`.
inline std::string choice_option(const ConfigNode& cfg, const std::string& key,
                                 const std::string& fallback,
                                 const std::vector<std::string>& allowed) {
  auto v = cfg.get<std::string>(key, fallback);
  for (const auto& a : allowed) {
    if (a == v) return v;
  }
  std::string known;
  for (const auto& a : allowed) known += (known.empty() ? "" : ", ") + a;
  cfg[key].fail("unknown value '" + v + "'; expected one of: " + known);
}

}  // namespace mmfuse::fusion
