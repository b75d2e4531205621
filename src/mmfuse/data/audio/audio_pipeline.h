// The "audio" data pipeline: audio file (+ manifest noise) -> waveform at one rate -> features
// (AV-MNIST spectrogram, log spectrogram, log-mel, MFCC or the waveform itself), fixed size or
// variable length; seeded augmentation; per-bin standardisation fitted on the training split.
//
// Config (all optional except where noted):
//   features: avmnist_spectrogram | spectrogram | logmel | mfcc | waveform   (logmel)
//   sample_rate: Hz (16000; 8000 for avmnist_spectrogram)   resample_quality: sinc_medium | ...
//   n_fft: 400  hop: n_fft / 4  win: n_fft  n_mels: 64  n_mfcc: 13  fmin: 0  fmax: sample_rate / 2
//   mel_scale: htk | slaney   mel_norm: none | slaney   log: natural | db   size: 112 (avmnist)
//   max_seconds: pad/trim to this length (required for fixed-size features except avmnist)
//   variable_length: false (true: frames [T, F] padded per batch, with lengths)
//   normalize: none | standardize
//   augment: {gain_db: [lo, hi], time_shift_s, noise_dir, noise_snr_db: [lo, hi],
//             spec_time_masks, spec_time_mask_max, spec_freq_masks, spec_freq_mask_max}
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "mmfuse/data/audio/audio_io.h"
#include "mmfuse/data/audio/audio_options.h"
#include "mmfuse/data/pipeline.h"
#include "mmfuse/data/pipeline_registry.h"

namespace mmfuse::data::audio {

class AudioPipeline : public ModalityPipeline {
 public:
  static constexpr const char* kName = "audio";
  static constexpr const char* kDescription =
      "audio file (+ noise) -> AV-MNIST spectrogram, log spectrogram, log-mel, MFCC or waveform";

  /// Fails at `cfg`'s path on bad settings or when ctx.modality is not audio.
  static std::shared_ptr<AudioPipeline> create(const PipelineContext& ctx, const ConfigNode& cfg);
  explicit AudioPipeline(AudioOptions options);

  Modality modality() const override { return Modality::audio; }
  bool cacheable() const override { return true; }
  std::string cache_key() const override;

  /// standardize: per-bin mean and std over every frame of the training features.
  void fit(const FitContext& ctx) override;
  /// AudioRef -> avmnist [1, size, size]; fixed [1, F, T] (waveform [1, N]);
  /// variable length [T, F] (waveform [N, 1]).
  torch::Tensor extract(const Field& field) const override;
  /// Waveform-level augmentations re-read the raw field and re-extract; SpecAugment masks (filled
  /// with the item's mean) act on the features. Deterministic for a given rng state.
  torch::Tensor augment(const Field& field, const torch::Tensor& features, Rng& rng) const override;
  torch::Tensor finalize(const torch::Tensor& features) const override;
  /// Fixed size: stack ([B, 1, F, T]). Variable length: pad to the longest -> data [B, T, F],
  /// lengths [B] (0 where absent).
  ModalityBatch collate(const std::vector<torch::Tensor>& items) const override;
  std::vector<int64_t> item_shape() const override;
  nlohmann::json state() const override;
  void load_state(const nlohmann::json& state) override;

  const AudioOptions& options() const { return o_; }
  /// Mono samples of `ref` at options().sample_rate with its noise spec mixed in.
  std::vector<float> load_waveform(const AudioRef& ref) const;
  /// The feature step of extract() for samples already at options().sample_rate.
  torch::Tensor features_from_waveform(std::vector<float> samples) const;

 private:
  // Feature layout: the item viewed as frames [T, F] (F = options().feature_dim()).
  torch::Tensor as_frames(const torch::Tensor& item) const;
  // Shape [..] that broadcasts a per-bin vector [F] against an item.
  std::vector<int64_t> bin_shape() const;

  AudioOptions o_;
  torch::Tensor filterbank_;  // [n_mels, n_fft / 2 + 1] (logmel, mfcc)
  torch::Tensor dct_;         // [n_mels, n_mfcc] (mfcc)
  torch::Tensor mean_, std_;  // [F] fitted by fit() / load_state() (standardize)
  AudioCache noise_cache_;    // manifest and augmentation noise, decoded once
};

}  // namespace mmfuse::data::audio
