#include "mmfuse/translate/convert.h"

#include <filesystem>

#include "mmfuse/core/error.h"
#include "mmfuse/data/loader.h"
#include "mmfuse/translate/griffin_lim.h"
#include "mmfuse/translate/image_io.h"

namespace mmfuse::translate {

namespace fs = std::filesystem;
using nlohmann::json;

namespace {

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

json convert(const TranslateRun& run, const ConvertRequest& req) {
  const Modality src = run.tcfg.source;
  data::Sample s;
  s.id = "input";
  s.manifest = "<command line>";
  s.line = 1;
  auto file = [](const std::string& p) {
    if (!fs::is_regular_file(p)) throw InputError("no such file", p);
    return fs::absolute(p).string();
  };
  int given = 0;
  if (req.image) ++given, s.fields[index_of(Modality::image)] = data::ImageRef{file(*req.image), -1};
  if (req.audio) ++given, s.fields[index_of(Modality::audio)] = data::AudioRef{file(*req.audio), std::nullopt};
  if (req.text) ++given, s.fields[index_of(Modality::text)] = *req.text;
  if (given != 1 || !s.has(src)) {
    throw UsageError("this run translates " + std::string(to_string(src)) + " to " +
                     std::string(to_string(run.tcfg.target)) + "; give exactly --" +
                     std::string(to_string(src)));
  }
  if (req.out.empty()) throw UsageError("give --out FILE (.png, or .wav for a spectrogram)");
  auto set = std::make_shared<data::SampleSet>();
  set->split = data::Split::test;
  set->samples.push_back(s);
  data::LoaderOptions lo;
  lo.batch_size = 1;
  lo.shuffle = false;
  lo.threads = 0;
  data::Loader loader(run.dataset, set, lo);
  auto batch = loader.next();
  if (!batch) {
    const auto bad = loader.bad();
    throw InputError(bad.empty() ? "the input could not be read" : bad.front().message());
  }
  torch::NoGradGuard no_grad;
  Translator model = run.model;
  model->eval();
  auto gen = torch::sigmoid(model->forward(batch->at(src)).logits)[0];  // [C, H, W]
  json written = json::array();
  const bool spectrogram = run.tcfg.target == Modality::audio;
  std::string wav = req.wav;
  if (ends_with(req.out, ".wav")) {
    if (!spectrogram) throw UsageError("--out " + req.out + ": the target is an image; write a .png");
    wav = req.out;
  } else {
    write_png(req.out, gen, req.scale);
    written.push_back(req.out);
  }
  if (!wav.empty()) {
    if (!spectrogram) throw UsageError("--wav needs a run whose target is audio");
    GriffinLimOptions g;
    write_wav(wav, griffin_lim(features_to_magnitude(gen, g), g), 8000);
    written.push_back(wav);
  }
  return {{"source", std::string(to_string(src))},
          {"target", std::string(to_string(run.tcfg.target))},
          {"shape", gen.sizes().vec()},
          {"out", written}};
}

}  // namespace mmfuse::translate
