// In-memory audio: decode any libsndfile-readable bytes, encode 16-bit PCM WAV, resample.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mmfuse::data::default_dataset {

struct MonoAudio {
  std::vector<float> samples;  ///< in [-1, 1]
  int sample_rate = 0;
};

/// Decodes audio bytes (WAV, also with the unknown-length header a pipe gives) to mono floats
/// (channels averaged). `what` names the source in errors. Throws InputError.
MonoAudio decode_audio(std::string_view bytes, const std::string& what);

/// 16-bit PCM WAV bytes of mono `samples` (clipped to [-1, 1]).
std::string encode_wav_pcm16(const std::vector<float>& samples, int sample_rate);

/// Band-limited resampling (libsamplerate, sinc medium quality); deterministic.
std::vector<float> resample(const std::vector<float>& samples, int from_rate, int to_rate);

}  // namespace mmfuse::data::default_dataset
