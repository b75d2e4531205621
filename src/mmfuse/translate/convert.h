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

/// {"source", "target", "out": [files written], "shape": [C, H, W]}. Throws UsageError when the
/// given input is not the run's source modality, InputError naming an unreadable file.
nlohmann::json convert(const runtime::Predictor& predictor, const ConvertRequest& request);

}  // namespace mmfuse::translate
