// From generated spectrogram features back to sound: the AV-MNIST audio features are
// log1p(100 |STFT|) resized to 112 x 112, flipped (low frequencies at the bottom) and min-max
// scaled to [0, 1] (../shared/peers/avmnist_peer.py audio_features). The scaling is undone with
// an assumed dynamic range, the magnitudes resized to the STFT's frame count, and the phase
// recovered by Griffin-Lim (Griffin & Lim 1984) with torch::stft / torch::istft.
#pragma once

#include <cstdint>
#include <string>

#include <torch/torch.h>

namespace mmfuse::translate {

struct GriffinLimOptions {
  int64_t n_fft = 222;  ///< 2 * (112 - 1): 112 frequency bins, as the features
  int64_t hop = 32;
  int64_t samples = 4000;  ///< output length (0.5 s at 8 kHz, a typical spoken digit)
  int64_t iterations = 48;
  double log_range = 4.0;  ///< log1p(100 |S|) at feature value 1 (0 maps to silence)
  uint64_t seed = 0;
};

/// features [1, F, T] or [F, T] in [0, 1] -> STFT magnitudes [F, frames] (frames for `samples`).
torch::Tensor features_to_magnitude(const torch::Tensor& features, const GriffinLimOptions& o);

/// magnitudes [n_fft/2 + 1, frames] -> waveform [samples], peak-normalised to 0.9.
torch::Tensor griffin_lim(const torch::Tensor& magnitude, const GriffinLimOptions& o);

/// waveform [samples] -> the bytes of a mono 16-bit PCM WAV file (libsndfile, in memory).
std::string encode_wav(const torch::Tensor& waveform, int sample_rate);

/// Writes encode_wav atomically; throws Error naming the file on failure.
void write_wav(const std::string& path, const torch::Tensor& waveform, int sample_rate);

}  // namespace mmfuse::translate
