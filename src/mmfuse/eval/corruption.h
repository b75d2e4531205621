// Corrupted inputs for robustness evaluation, one kind per modality, at a level in [0, 1]:
//   image   Gaussian noise on the [0, 1] pixel scale, before the pipeline's normalisation:
//           x' = clamp(x + level * N(0, 1), 0, 1) on the decoded, resized pixels.
//   audio   additive background noise from a folder of WAV/FLAC/OGG files, mixed into the
//           waveform (after the manifest's own noise) so that noise RMS = level x speech RMS,
//           i.e. SNR = -20 log10(level) dB (0.1 -> 20 dB, 0.5 -> 6 dB, 0.9 -> 0.9 dB); file and
//           offset drawn from the sample's Rng.
//   text    round(level x code points) random code-point edits (insert, delete, substitute, swap)
//           with the default dataset's typo model: UTF-8 safe, never empty.
// Level 0 is the clean input. Corrupted features are re-extracted from the corrupted input (no
// feature cache). Everything is drawn from the Rng it is given: deterministic.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mmfuse/data/dataset.h"
#include "mmfuse/data/loader.h"

namespace mmfuse::eval {

/// [C, H, W] pixels in [0, 1] -> clamp(x + level * N(0, 1), 0, 1).
torch::Tensor corrupt_pixels(const torch::Tensor& pixels, double level, data::Rng& rng);

/// `text` with round(level * code points) edits (at least one when level > 0 and text not empty).
std::string corrupt_text(const std::string& text, double level, data::Rng& rng);

/// Mixes `noise` into `speech` at SNR -20 log10(level) dB from a random offset (level > 0).
void corrupt_waveform(std::vector<float>& speech, const std::vector<float>& noise, double level,
                      int sample_rate, data::Rng& rng);

/// The WAV/FLAC/OGG files of `dir`, sorted. Throws InputError when there is none.
std::vector<std::string> noise_files(const std::string& dir);

/// A Loader features_override corrupting modality `m` at `level` (other modalities and level 0:
/// clean). Audio needs `noise` files (else throws UsageError). Requires: `dataset` outlives it.
std::function<torch::Tensor(const data::Sample&, Modality, data::Rng&)> corruption(
    const data::Dataset& dataset, Modality m, double level,
    const std::vector<std::string>& noise = {});

}  // namespace mmfuse::eval
