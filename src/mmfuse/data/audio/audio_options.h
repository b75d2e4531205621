// Typed settings of the audio pipeline, parsed once from its config (every error names the
// config path, e.g. `data.audio.mel_scale`).
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "mmfuse/core/config.h"
#include "mmfuse/data/audio/audio_io.h"
#include "mmfuse/data/audio/features.h"

namespace mmfuse::data::audio {

/// yamnet: YAMNet's exact front end (yamnet_frontend.h), log-mel frames [T, 64] from the
/// checkpoint's mel matrix (`mel_matrix: FILE`), 16 kHz, always variable length.
enum class FeatureKind { avmnist_spectrogram, spectrogram, logmel, mfcc, waveform, yamnet };
enum class Normalize { none, standardize };

/// Training-time augmentation. Waveform-level ones (gain, shift, noise) re-read the raw field and
/// re-extract; SpecAugment masks act on the features.
struct AugmentOptions {
  std::pair<double, double> gain_db{0.0, 0.0};  ///< uniform gain in dB
  double time_shift_s = 0.0;                    ///< uniform shift in [-s, s] seconds, zero-filled
  std::string noise_dir;  ///< folder of noise files (resolved); empty: no added noise
  std::vector<std::string> noise_files;               ///< its WAV/FLAC/OGG files, sorted
  std::pair<double, double> noise_snr_db{0.0, 20.0};  ///< uniform SNR of the added noise
  int64_t spec_time_masks = 0;                        ///< SpecAugment: number of time masks
  int64_t spec_time_mask_max = 0;                     ///< ... each up to this many frames wide
  int64_t spec_freq_masks = 0;                        ///< number of frequency masks
  int64_t spec_freq_mask_max = 0;                     ///< ... each up to this many bins wide

  bool waveform_level() const {
    return gain_db != std::pair<double, double>{0.0, 0.0} || time_shift_s > 0 || !noise_dir.empty();
  }
  bool spec_level() const {
    return (spec_time_masks > 0 && spec_time_mask_max > 0) ||
           (spec_freq_masks > 0 && spec_freq_mask_max > 0);
  }
};

struct AudioOptions {
  int sample_rate = 16000;  ///< Hz, every input is resampled to it (8000 for avmnist_spectrogram)
  ResampleQuality resample_quality = ResampleQuality::sinc_medium;
  FeatureKind features = FeatureKind::logmel;
  StftOptions stft;                ///< n_fft, hop, win (center always on)
  MelOptions mel;                  ///< n_mels, fmin, fmax, mel_scale, mel_norm
  LogKind log = LogKind::natural;  ///< log-mel / MFCC: natural log or dB
  double log_eps = 1e-6;           ///< log(x + eps) or 10 log10(max(x, eps))
  int64_t n_mfcc = 13;
  std::string mel_matrix;        ///< yamnet: safetensors file with `frontend.mel_matrix` (resolved)
  int64_t size = 112;            ///< avmnist_spectrogram: output is [1, size, size]
  int64_t max_samples = 0;       ///< fixed length (pad/trim); with variable_length: trim only
  bool variable_length = false;  ///< frames [T, F] padded per batch, with lengths
  Normalize normalize = Normalize::none;
  AugmentOptions augment;
  AudioLimits limits;  ///< from the dataset spec's `limits:` (PipelineContext), not this node

  /// Parses `cfg` (a map; unknown keys are rejected). Relative paths resolve against base_dir.
  static AudioOptions parse(const ConfigNode& cfg, const std::string& base_dir);

  /// Feature bins per frame (F), 1 for the waveform.
  int64_t feature_dim() const;
  /// Canonical text of every setting that changes extract() (for cache keys).
  std::string extract_key() const;
};

std::string_view to_string(FeatureKind k);
std::string_view to_string(Normalize n);

}  // namespace mmfuse::data::audio
