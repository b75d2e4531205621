// Seeded randomness of the loader, all derived from (seed, epoch, sample index) so results do
// not depend on thread count or timing: epoch order, per-sample Rngs, and the two generic
// augmentations (modality dropout, feature noise).
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include <torch/torch.h>

#include "mmfuse/core/modality.h"
#include "mmfuse/data/pipeline.h"

namespace mmfuse::data {

/// The Rng of sample `index` in `epoch` (splitmix64 of the three).
Rng sample_rng(uint64_t seed, int64_t epoch, int64_t index);

/// 0..n-1, shuffled (Fisher-Yates, portable) by (seed, epoch) when `shuffle`.
std::vector<int64_t> epoch_order(int64_t n, bool shuffle, uint64_t seed, int64_t epoch);

/// Drops each present modality with probability p; if that would drop them all, one of them,
/// drawn uniformly, is kept. Returns the modalities to use.
std::array<bool, kNumModalities> drop_modalities(const std::array<bool, kNumModalities>& present,
                                                 double p, Rng& rng);

/// x + N(0, std^2) noise drawn from `rng` (float tensors only; others returned as is).
torch::Tensor add_feature_noise(const torch::Tensor& x, double std, Rng& rng);

}  // namespace mmfuse::data
