#include "mmfuse/data/sampling.h"

#include <ATen/CPUGeneratorImpl.h>

#include <numeric>

namespace mmfuse::data {

namespace {

uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Uniform integer in [0, n) (Lemire's multiply-shift; same on every standard library).
uint64_t below(Rng& rng, uint64_t n) {
  return static_cast<uint64_t>((static_cast<unsigned __int128>(rng()) * n) >> 64);
}

double uniform01(Rng& rng) {
  return static_cast<double>(rng() >> 11) * 0x1.0p-53;
}

}  // namespace

Rng sample_rng(uint64_t seed, int64_t epoch, int64_t index) {
  uint64_t h = splitmix64(seed);
  h = splitmix64(h ^ static_cast<uint64_t>(epoch));
  h = splitmix64(h ^ static_cast<uint64_t>(index));
  return Rng(h);
}

std::vector<int64_t> epoch_order(int64_t n, bool shuffle, uint64_t seed, int64_t epoch) {
  std::vector<int64_t> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  if (!shuffle) return order;
  Rng rng = sample_rng(seed, epoch, -1);
  for (int64_t i = n - 1; i > 0; --i) {
    std::swap(order[static_cast<std::size_t>(i)], order[below(rng, static_cast<uint64_t>(i + 1))]);
  }
  return order;
}

std::array<bool, kNumModalities> drop_modalities(const std::array<bool, kNumModalities>& present,
                                                 double p, Rng& rng) {
  std::array<bool, kNumModalities> keep = present;
  if (p <= 0) return keep;
  std::vector<std::size_t> had;
  for (std::size_t m = 0; m < kNumModalities; ++m) {
    if (!present[m]) continue;
    had.push_back(m);
    if (uniform01(rng) < p) keep[m] = false;
  }
  bool any = false;
  for (bool k : keep) any = any || k;
  if (!any && !had.empty()) keep[had[below(rng, had.size())]] = true;
  return keep;
}

torch::Tensor add_feature_noise(const torch::Tensor& x, double std, Rng& rng) {
  if (std <= 0 || !x.defined() || !x.is_floating_point()) return x;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(rng());
  return x + torch::randn(x.sizes(), gen, x.options()) * std;
}

}  // namespace mmfuse::data
