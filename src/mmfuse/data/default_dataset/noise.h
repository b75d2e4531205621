// Background noise for the default dataset's speech, made without any external recordings:
// synthetic white, pink and brown noise, and babble from espeak-ng talkers reading sentences.
// One clip per kind for training and validation, and unseen ones for test.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "mmfuse/data/default_dataset/common.h"
#include "mmfuse/data/default_dataset/speech_bank.h"

namespace mmfuse::data::default_dataset {

enum class NoiseKind : int { white = 0, pink, brown, babble };
inline constexpr std::size_t kNumNoiseKinds = 4;
std::string_view to_string(NoiseKind kind);

struct NoiseOptions {
  /// Length of each noise clip (seconds); samples read it from a random offset, wrapping.
  double seconds = 8.0;
  /// espeak-ng talkers summed into each babble clip.
  int babble_talkers = 6;
  /// Relative weight of white, pink, brown and babble noise in the samples.
  std::array<double, kNumNoiseKinds> kind_weights = {1, 1, 1, 1};
};

/// Noise clips are shared by train and val; test has its own.
enum class NoiseGroup : int { train = 0, test = 1 };
inline NoiseGroup noise_group(Split split) {
  return split == Split::test ? NoiseGroup::test : NoiseGroup::train;
}

struct NoiseClip {
  NoiseKind kind = NoiseKind::white;
  NoiseGroup group = NoiseGroup::train;
  std::string file;            ///< relative to the dataset folder: noise/<group>_<kind>.wav
  std::vector<float> samples;  ///< RMS 0.1 at the speech sample rate
};

/// All clips, indexed [group * kNumNoiseKinds + kind].
std::vector<NoiseClip> build_noise(const NoiseOptions& options, const SpeechBankOptions& speech,
                                   uint64_t seed, int threads);

}  // namespace mmfuse::data::default_dataset
