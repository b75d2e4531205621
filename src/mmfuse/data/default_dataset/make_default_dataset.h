// `mmfuse data make-default`: the built-in tri-modal "spoken and written digits" dataset.
//
// Each sample is a digit 0..9 seen three ways, each imperfect on its own so that fusing them
// pays: a distorted, noisy handwritten digit (image), the digit spoken by espeak-ng in one of
// several languages under noise at a low SNR (audio), and the digit written as a word in one of
// several languages, with typos or absent (text). Targets: "label" (class) and "value" (the digit
// as a float, for regression). Deterministic: the same options and seed give byte-identical files.
//
// Output folder:
//   train.jsonl val.jsonl test.jsonl   one sample per line (paths relative to the folder)
//   dataset.yaml README.md             the dataset spec and what the data is
//   images/<split>/NNNNN.png           28x28 grey PNGs, one per sample
//   audio/<split>/<digit>_<voice>.wav  the speech bank (8 kHz mono PCM16), shared by samples
//   noise/<train|test>_<kind>.wav      noise clips the samples mix in: {"file", "noise": {...}}
// Requires: espeak-ng on PATH (or options.speech.espeak), the sklearn digits CSV.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "mmfuse/data/default_dataset/common.h"
#include "mmfuse/data/default_dataset/digit_images.h"
#include "mmfuse/data/default_dataset/noise.h"
#include "mmfuse/data/default_dataset/speech_bank.h"
#include "mmfuse/data/default_dataset/text_variants.h"

namespace mmfuse::data::default_dataset {

struct DefaultDatasetOptions {
  /// Seed of every random choice.
  uint64_t seed = 0;
  /// Samples over all splits (at least 10).
  int64_t samples = 3000;
  /// Shares of the samples in val and test (the rest is train): 3000 -> 2000/500/500.
  double val_fraction = 1.0 / 6.0;
  double test_fraction = 1.0 / 6.0;
  /// The sklearn digits CSV (gzipped).
  std::string digits_csv = kSklearnDigitsCsv;
  /// espeak-ng calls run at a time; images are written by max(threads, 4) threads, as they
  /// mostly wait on fsync.
  int threads = 2;
  /// Speech-to-noise ratio of each sample, drawn from [min_snr_db, max_snr_db].
  double min_snr_db = -3.0;
  double max_snr_db = 12.0;
  /// Probability that a sample lacks its image / audio (the manifest omits the key).
  double image_absent_prob = 0.0;
  double audio_absent_prob = 0.0;
  ImageOptions image;
  SpeechBankOptions speech;
  NoiseOptions noise;
  TextOptions text;

  /// Throws ConfigError naming the bad option (`default_dataset.samples: ...`).
  void validate() const;
};

struct SplitSummary {
  int64_t samples = 0;
  std::array<int64_t, 10> per_class{};
  int64_t images = 0, audios = 0, texts = 0;  ///< samples with each modality
  int64_t texts_with_typos = 0;
  std::array<int64_t, kNumLanguages> text_languages{};   ///< present texts by language
  std::array<int64_t, kNumLanguages> audio_languages{};  ///< present audio by spoken language
  int64_t source_digits = 0;  ///< distinct sklearn digit rows this split draws from
  int64_t utterances = 0;     ///< speech bank entries of this split
};

struct DefaultDatasetSummary {
  std::string out_dir;
  uint64_t seed = 0;
  std::array<SplitSummary, kNumSplits> splits;
  int64_t noise_clips = 0;
  /// A human-readable table: counts per split, modality presence, per-class counts.
  std::string format() const;
};

/// Writes the dataset into `out_dir` (created if missing; files of the same names are replaced
/// atomically, manifests last). Throws Error when espeak-ng cannot run, InputError when the
/// digits CSV is missing or corrupt, ConfigError for bad options.
DefaultDatasetSummary make_default_dataset(const std::string& out_dir,
                                           const DefaultDatasetOptions& options);

}  // namespace mmfuse::data::default_dataset
