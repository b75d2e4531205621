// `mmfuse translate --run RUN_DIR --audio X.wav --out Y.png`: one input through a trained
// translator. A generated image is written as PNG; a generated spectrogram as PNG and, when the
// output name ends in .wav (or `wav` is given), as sound through Griffin-Lim.
#pragma once

#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "mmfuse/runtime/predictor.h"

namespace mmfuse::translate {

struct ConvertRequest {
  std::optional<std::string> image, audio, text;  ///< exactly the run's source modality
  std::string out;                                ///< .png (or .wav for a spectrogram target)
  std::string wav;                                ///< also a WAV (spectrogram targets)
  int scale = 1;                                  ///< PNG pixel repetition
};

/// One input through the translator -> the generated features [C, H, W] in [0, 1]. Throws
/// UsageError unless `input` holds exactly the run's source modality (naming both).
torch::Tensor generate(const runtime::Predictor& predictor, const runtime::Request& input);

/// Generated features as the PNG `mmfuse translate --out X.png` writes (each pixel `scale` times).
std::string generated_png(const torch::Tensor& generated, int scale = 1);

/// A generated spectrogram [1, F, T] as the WAV `mmfuse translate --out X.wav` writes (Griffin-Lim
/// with the default GriffinLimOptions, 8 kHz, 16-bit mono).
std::string generated_wav(const torch::Tensor& generated);

/// Sample rate of generated WAVs.
inline constexpr int kGeneratedWavRate = 8000;

/// {"source", "target", "out": [files written], "shape": [C, H, W]}. Throws UsageError when the
/// given input is not the run's source modality, InputError naming an unreadable file.
nlohmann::json convert(const runtime::Predictor& predictor, const ConvertRequest& request);

}  // namespace mmfuse::translate
