#include "mmfuse/translate/convert.h"

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"
#include "mmfuse/translate/griffin_lim.h"
#include "mmfuse/translate/image_io.h"

namespace mmfuse::translate {

using nlohmann::json;

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

torch::Tensor generate(const runtime::Predictor& predictor, const runtime::Request& input) {
  const models::TranslateConfig& cfg = predictor.run().translator()->config();
  const auto given = input.modalities();
  if (given.size() != 1 || given.front() != cfg.source) {
    throw UsageError("this run translates " + std::string(to_string(cfg.source)) + " to " +
                     std::string(to_string(cfg.target)) + "; give exactly one " +
                     std::string(to_string(cfg.source)) + " input");
  }
  return predictor.translate(std::vector<runtime::Request>{input})[0];  // [C, H, W]
}

std::string generated_png(const torch::Tensor& generated, int scale) {
  return encode_png(generated, scale);
}

std::string generated_wav(const torch::Tensor& generated) {
  const GriffinLimOptions g;
  return encode_wav(griffin_lim(features_to_magnitude(generated, g), g), kGeneratedWavRate);
}

json convert(const runtime::Predictor& predictor, const ConvertRequest& req) {
  models::Translator translator = predictor.run().translator();
  const models::TranslateConfig& cfg = translator->config();
  const Modality src = cfg.source;
  const int given = req.image.has_value() + req.audio.has_value() + req.text.has_value();
  const bool has_source = (src == Modality::image && req.image) ||
                          (src == Modality::audio && req.audio) ||
                          (src == Modality::text && req.text);
  if (given != 1 || !has_source) {
    throw UsageError("this run translates " + std::string(to_string(src)) + " to " +
                     std::string(to_string(cfg.target)) + "; give exactly --" +
                     std::string(to_string(src)));
  }
  if (req.out.empty()) throw UsageError("give --out FILE (.png, or .wav for a spectrogram)");
  runtime::Request in;
  if (req.image) in.image = runtime::EncodedFile::read(*req.image);
  if (req.audio) in.audio = runtime::EncodedFile::read(*req.audio);
  in.text = req.text;
  const torch::Tensor gen = generate(predictor, in);  // [C, H, W]
  json written = json::array();
  const bool spectrogram = cfg.target == Modality::audio;
  std::string wav = req.wav;
  if (ends_with(req.out, ".wav")) {
    if (!spectrogram)
      throw UsageError("--out " + req.out + ": the target is an image; write a .png");
    wav = req.out;
  } else {
    write_file_atomic(req.out, generated_png(gen, req.scale));
    written.push_back(req.out);
  }
  if (!wav.empty()) {
    if (!spectrogram) throw UsageError("--wav needs a run whose target is audio");
    write_file_atomic(wav, generated_wav(gen));
    written.push_back(wav);
  }
  return {{"source", std::string(to_string(src))},
          {"target", std::string(to_string(cfg.target))},
          {"shape", gen.sizes().vec()},
          {"out", written}};
}

}  // namespace mmfuse::translate
