// The speech of the default dataset: a bank of distinct espeak-ng utterances of the digits
// (digit x voice x pitch x speed), resampled to 8 kHz mono. Each split gets its own voices, so
// test utterances never occur in training; samples reuse them with per-sample noise.
#pragma once

#include <array>
#include <string>
#include <vector>

#include "mmfuse/data/default_dataset/common.h"

namespace mmfuse::data::default_dataset {

struct SpeechBankOptions {
  /// The espeak-ng program (looked up on PATH unless it contains a '/').
  std::string espeak = "espeak-ng";
  /// Voice configurations per split (train, val, test); each speaks all ten digits.
  std::array<int, kNumSplits> voices_per_split = {32, 8, 8};
  /// Share of each split's voices speaking English; the rest speak the digit word in
  /// zh/es/fr/de/it/pt/ja in turn.
  double english_share = 0.7;
  /// espeak-ng pitch (-p, 0..99), speed (-s, words per minute) and amplitude (-a) ranges.
  int min_pitch = 15, max_pitch = 85;
  int min_speed = 120, max_speed = 220;
  int min_amplitude = 50, max_amplitude = 130;
  /// Silence before the word, drawn from [0, max_lead_s] seconds (a time shift).
  double max_lead_s = 0.3;
  /// Output sample rate (Hz).
  int sample_rate = 8000;
};

struct VoiceConfig {
  Language language = Language::en;
  std::string voice;  ///< espeak-ng voice with variant, e.g. "en-us+f3"
  int pitch = 50, speed = 175, amplitude = 100;
  /// "en-us+f3_p40_s160" (used in file names).
  std::string name() const;
};

struct Utterance {
  int digit = 0;
  Split split = Split::train;
  VoiceConfig voice;
  std::string file;            ///< path relative to the dataset folder
  std::vector<float> samples;  ///< at SpeechBankOptions::sample_rate
};

struct SpeechBank {
  std::vector<Utterance> utterances;
  /// Indices into `utterances` by split and digit.
  std::array<std::array<std::vector<std::size_t>, 10>, kNumSplits> index;
};

/// Throws Error telling to `apt-get install espeak-ng` when the program cannot be run.
void check_espeak(const std::string& espeak);

/// One espeak-ng call: `text` spoken by `voice`, mono at `sample_rate`.
std::vector<float> speak(const std::string& espeak, const VoiceConfig& voice,
                         const std::string& text, int sample_rate);

/// What espeak-ng is given to say a digit in `language` (pinyin for Chinese, as Debian's
/// espeak-ng data lacks the hanzi dictionary).
std::string spoken_digit(Language language, int digit);

/// A random voice of `language` (voice, variant, pitch, speed, amplitude within the options).
VoiceConfig draw_voice(const SpeechBankOptions& options, Language language, Rng& rng);

/// Draws the voices and synthesises every utterance, `threads` espeak-ng calls at a time.
SpeechBank build_speech_bank(const SpeechBankOptions& options, uint64_t seed, int threads);

}  // namespace mmfuse::data::default_dataset
