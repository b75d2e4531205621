// Audio input: decoding (libsndfile), resampling (libsamplerate), noise mixing, and an in-memory
// cache for files reused across many samples (background noise).
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "mmfuse/core/limits.h"

namespace mmfuse::data::audio {

/// Mono float32 samples (nominally in [-1, 1]) and their sample rate in Hz.
struct Waveform {
  std::vector<float> samples;
  int sample_rate = 0;
};

/// libsamplerate converters, best (slowest) first.
enum class ResampleQuality { sinc_best, sinc_medium, sinc_fastest, zero_order_hold, linear };

/// "sinc_best", "sinc_medium", "sinc_fastest", "zero_order_hold", "linear".
std::string_view to_string(ResampleQuality q);
/// Inverse of to_string; false when `name` is unknown.
bool resample_quality_from_string(std::string_view name, ResampleQuality* out);
/// The known names, comma-separated (for error messages).
std::string resample_quality_names();

/// Caps on one audio file (limits.h), checked before decoding: its size, and the duration its
/// header declares (frames / sample rate, as libsndfile reports them).
struct AudioLimits {
  double max_seconds = InputLimits{}.max_audio_seconds;
  int64_t max_bytes = InputLimits{}.max_audio_bytes;
};

/// Decodes a WAV/FLAC/OGG file (anything libsndfile reads) to mono by averaging the channels;
/// a video file (.mp4 .mkv .webm .avi .mov, data/video) gives its sound track, decoded by FFmpeg.
/// PCM is scaled to [-1, 1) as libsndfile does (int16 / 32768).
/// Throws InputError naming `path` for a missing/unreadable file, a corrupt one (libsndfile's
/// reason), a truncated one (fewer frames than its header declares), a zero-length one, and one
/// over `limits` (refused before its samples are read).
Waveform read_audio(const std::string& path, const AudioLimits& limits = {});

/// read_audio on the bytes of an encoded file already in memory; `path` names it in messages.
Waveform decode_audio(const std::string& bytes, const std::string& path,
                      const AudioLimits& limits = {});

/// `samples` at `from_rate` -> round(n * to_rate / from_rate) samples at `to_rate`.
/// Returns a copy when the rates are equal. Throws Error on invalid rates.
std::vector<float> resample(const std::vector<float>& samples, int from_rate, int to_rate,
                            ResampleQuality quality);

/// Adds background noise in place, as the AV-MNIST peer's `mix_noise`: the noise is read from
/// sample start = round_half_even(offset_s * rate) mod len(noise), wrapping around its end, and
/// scaled by g = sqrt(ps / (pn * 10^(snr_db / 10))) (ps, pn: sums of squares in double) so that
/// 10*log10(ps / sum (g*noise)^2) = snr_db. Leaves `speech` unchanged when the noise is silent.
/// Requires: both at the same rate; `noise` not empty.
void mix_noise(std::vector<float>& speech, const std::vector<float>& noise, double offset_s,
               double snr_db, int rate);

/// Thread-safe cache of decoded files at a given rate, for files reused across many samples
/// (background noise). Entries live as long as the cache; failures are not cached.
class AudioCache {
 public:
  /// Samples of `path` at `sample_rate` (decoded and resampled on first use).
  std::shared_ptr<const std::vector<float>> get(const std::string& path, int sample_rate,
                                                ResampleQuality quality) const;
  std::size_t size() const;

 private:
  mutable std::mutex mutex_;
  mutable std::unordered_map<std::string, std::shared_ptr<const std::vector<float>>> entries_;
};

}  // namespace mmfuse::data::audio
