// Shared vocabulary of the built-in "spoken and written digits" dataset generator: splits,
// languages, seeded random streams and a small parallel loop.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <exception>
#include <mutex>
#include <random>
#include <string_view>
#include <thread>
#include <vector>

namespace mmfuse::data::default_dataset {

enum class Split : int { train = 0, val = 1, test = 2 };
inline constexpr std::size_t kNumSplits = 3;
inline constexpr std::array<Split, kNumSplits> kAllSplits = {Split::train, Split::val, Split::test};
inline constexpr std::size_t index_of(Split s) {
  return static_cast<std::size_t>(s);
}
/// "train", "val", "test".
inline std::string_view to_string(Split s) {
  constexpr std::array<std::string_view, kNumSplits> names = {"train", "val", "test"};
  return names.at(index_of(s));
}

/// Languages the digits are written and spoken in.
enum class Language : int { en = 0, zh, es, fr, de, it, pt, ja };
inline constexpr std::size_t kNumLanguages = 8;
inline constexpr std::array<Language, kNumLanguages> kAllLanguages = {
    Language::en, Language::zh, Language::es, Language::fr,
    Language::de, Language::it, Language::pt, Language::ja};
inline constexpr std::size_t index_of(Language l) {
  return static_cast<std::size_t>(l);
}
/// ISO 639-1 code: "en", "zh", "es", "fr", "de", "it", "pt", "ja".
inline std::string_view to_string(Language l) {
  constexpr std::array<std::string_view, kNumLanguages> names = {"en", "zh", "es", "fr",
                                                                 "de", "it", "pt", "ja"};
  return names.at(index_of(l));
}

using Rng = std::mt19937_64;

/// What a random stream is used for; each (seed, purpose, index) gives an independent stream, so
/// results do not depend on thread scheduling or on the order samples are generated in.
enum class Stream : uint64_t {
  labels = 1,
  voices,
  utterance,
  babble,
  noise,
  image,
  render,
  audio,
  text
};

inline uint64_t splitmix64(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

inline Rng stream_rng(uint64_t seed, Stream purpose, uint64_t index) {
  uint64_t h = splitmix64(seed);
  h = splitmix64(h ^ static_cast<uint64_t>(purpose));
  h = splitmix64(h ^ index);
  return Rng(h);
}

inline double uniform(Rng& rng, double lo, double hi) {
  return std::uniform_real_distribution<double>(lo, hi)(rng);
}
inline int uniform_int(Rng& rng, int lo, int hi) {
  return std::uniform_int_distribution<int>(lo, hi)(rng);
}
inline bool bernoulli(Rng& rng, double p) {
  return p > 0 && uniform(rng, 0.0, 1.0) < p;
}

/// Runs fn(i) for i in [0, n) on `threads` threads; rethrows the first exception thrown.
template <class Fn>
void parallel_for(std::size_t n, int threads, Fn fn) {
  std::atomic<std::size_t> next{0};
  std::exception_ptr error;
  std::mutex error_mutex;
  auto worker = [&] {
    for (std::size_t i; (i = next++) < n;) {
      try {
        fn(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
        next = n;
      }
    }
  };
  std::size_t count = std::min<std::size_t>(threads > 1 ? threads : 1, n);
  std::vector<std::thread> pool;
  for (std::size_t t = 1; t < count; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);
}

}  // namespace mmfuse::data::default_dataset
