// Shared by the fusion tests: small contexts, random encodings with padding and absent
// modalities, building registered fusions, finiteness checks.
#pragma once

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "mmfuse/nn/fusion/fusion.h"

namespace mmfuse::testing {

/// 2 or 3 modalities: pooled dims {12, 20, 7}, token dims {6, 10, 5}, token counts {4, 6, 3}.
inline fusion::FusionContext small_context(int modalities) {
  const std::vector<Modality> mods = {Modality::image, Modality::audio, Modality::text};
  const std::vector<int64_t> dims = {12, 20, 7}, token_dims = {6, 10, 5}, counts = {4, 6, 3};
  fusion::FusionContext ctx;
  for (int i = 0; i < modalities; ++i) {
    ctx.modalities.push_back(mods[i]);
    ctx.dims.push_back(dims[i]);
    ctx.token_dims.push_back(token_dims[i]);
    ctx.token_counts.push_back(counts[i]);
  }
  return ctx;
}

/// Random encodings for `ctx` (seeded): pooled [B, D_i], tokens [B, T_i, Dt_i] where odd samples
/// have their last token padded, every modality present.
inline std::vector<nn::Encoded> random_inputs(const fusion::FusionContext& ctx, int64_t batch,
                                              uint64_t seed) {
  torch::manual_seed(seed);
  std::vector<nn::Encoded> out;
  for (std::size_t i = 0; i < ctx.size(); ++i) {
    nn::Encoded e;
    e.pooled = torch::randn({batch, ctx.dims[i]});
    if (ctx.token_dim(i) > 0) {
      const int64_t t = ctx.token_count(i);
      // A transposed view, as encoders hand out tokens (a LeNet's [B, C, HW] map as [B, HW, C]).
      e.tokens = torch::randn({batch, ctx.token_dim(i), t}).transpose(1, 2);
      e.token_mask = torch::ones({batch, t}, torch::kBool);
      for (int64_t b = 1; b < batch; b += 2) e.token_mask[b][t - 1] = false;
    }
    e.present = torch::ones({batch}, torch::kBool);
    out.push_back(e);
  }
  return out;
}

/// Marks modality m absent for the samples in `rows` and overwrites their content with `fill`
/// times a fixed random pattern (seeded by `seed`), so a fusion that reads it shows it.
inline std::vector<nn::Encoded> with_absent(std::vector<nn::Encoded> in, std::size_t m,
                                            const std::vector<int64_t>& rows, double fill = 100.0,
                                            uint64_t seed = 99) {
  torch::manual_seed(seed);
  auto& e = in[m];
  e.present = e.present.clone();
  e.pooled = e.pooled.clone();
  if (e.tokens.defined()) e.tokens = e.tokens.clone();
  for (int64_t r : rows) {
    e.present[r] = false;
    e.pooled[r] = torch::randn({e.pooled.size(1)}) * fill;
    if (e.tokens.defined()) e.tokens[r] = torch::randn(e.tokens[r].sizes()) * fill;
  }
  return in;
}

inline bool all_finite(const torch::Tensor& t) {
  return torch::isfinite(t).all().item<bool>();
}

inline bool all_finite(const fusion::FusionOutput& out) {
  if (!all_finite(out.fused)) return false;
  for (const auto& [name, loss] : out.losses) {
    if (!all_finite(loss)) return false;
  }
  return true;
}

/// A registered fusion built from YAML `config` under `ctx` after seeding torch with `seed`.
inline fusion::FusionBlock build_fusion(const std::string& config, const fusion::FusionContext& ctx,
                                        uint64_t seed) {
  torch::manual_seed(seed);
  auto cfg = ConfigNode::parse(config);
  std::string type = cfg.is_map() ? cfg.get<std::string>("type") : cfg.as<std::string>();
  return fusion::fusion_registry().make(type, ctx, cfg);
}

/// Every tensor in `xs` as a present pooled encoding ([B, D_i], all samples present).
inline std::vector<nn::Encoded> pooled_inputs(std::vector<torch::Tensor> xs) {
  std::vector<nn::Encoded> in;
  for (auto& x : xs) {
    nn::Encoded e;
    e.pooled = x;
    e.present = torch::ones({x.size(0)}, torch::kBool);
    in.push_back(e);
  }
  return in;
}

/// A module's parameter by name (shares storage with it); throws naming a missing one.
inline torch::Tensor fusion_param(torch::nn::Module& m, const std::string& name) {
  auto params = m.named_parameters();
  auto* p = params.find(name);
  if (!p) throw std::runtime_error("no parameter " + name);
  return *p;
}

}  // namespace mmfuse::testing
