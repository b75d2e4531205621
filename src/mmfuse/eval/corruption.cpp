#include "mmfuse/eval/corruption.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>

#include "mmfuse/core/utf8.h"
#include "mmfuse/data/audio/audio_io.h"
#include "mmfuse/data/audio/audio_pipeline.h"
#include "mmfuse/data/default_dataset/text_variants.h"

namespace mmfuse::eval {

torch::Tensor corrupt_pixels(const torch::Tensor& pixels, double level, data::Rng& rng) {
  auto x = pixels.to(torch::kFloat).contiguous().clone();
  if (level <= 0) return x;
  std::normal_distribution<float> n(0.f, static_cast<float>(level));
  float* p = x.data_ptr<float>();
  for (int64_t i = 0; i < x.numel(); ++i) p[i] = std::clamp(p[i] + n(rng), 0.f, 1.f);
  return x;
}

std::string corrupt_text(const std::string& text, double level, data::Rng& rng) {
  if (level <= 0 || text.empty()) return text;
  const auto n = static_cast<double>(utf8::decode(text).size());
  const int edits = std::max(1, static_cast<int>(std::lround(level * n)));
  return data::default_dataset::apply_typos(text, edits, rng);
}

void corrupt_waveform(std::vector<float>& speech, const std::vector<float>& noise, double level,
                      int sample_rate, data::Rng& rng) {
  if (level <= 0 || noise.empty() || speech.empty()) return;
  const double seconds = static_cast<double>(noise.size()) / sample_rate;
  const double offset = std::uniform_real_distribution<double>(0.0, seconds)(rng);
  data::audio::mix_noise(speech, noise, offset, -20.0 * std::log10(level), sample_rate);
}

std::vector<std::string> noise_files(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    std::string ext = e.path().extension().string();
    for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (e.is_regular_file() && (ext == ".wav" || ext == ".flac" || ext == ".ogg")) {
      out.push_back(e.path().string());
    }
  }
  std::sort(out.begin(), out.end());
  if (out.empty()) {
    throw InputError("no WAV/FLAC/OGG noise files in this folder" +
                         (ec ? " (" + ec.message() + ")" : std::string()) +
                         "; give --noise-dir a folder of background noise recordings",
                     dir);
  }
  return out;
}

std::function<torch::Tensor(const data::Sample&, Modality, data::Rng&)> corruption(
    const data::Dataset& ds, Modality target, double level, const std::vector<std::string>& noise) {
  if (level <= 0) return [](const data::Sample&, Modality, data::Rng&) { return torch::Tensor(); };
  const data::ModalityPipeline& p = ds.pipeline(target);
  if (target == Modality::image) {
    return [&p, target, level](const data::Sample& s, Modality m, data::Rng& rng) {
      if (m != target) return torch::Tensor();
      return corrupt_pixels(p.extract(*s.field(m)), level, rng);
    };
  }
  if (target == Modality::text) {
    return [&p, target, level](const data::Sample& s, Modality m, data::Rng& rng) {
      if (m != target) return torch::Tensor();
      return p.extract(data::Field(corrupt_text(std::get<std::string>(*s.field(m)), level, rng)));
    };
  }
  if (target == Modality::audio) {
    const auto* audio = dynamic_cast<const data::audio::AudioPipeline*>(&p);
    if (!audio) throw UsageError("audio noise needs the built-in 'audio' pipeline");
    if (noise.empty()) throw UsageError("audio noise needs noise files (--noise-dir)");
    auto cache = std::make_shared<data::audio::AudioCache>();
    return [audio, cache, noise, target, level](const data::Sample& s, Modality m, data::Rng& rng) {
      if (m != target) return torch::Tensor();
      const int rate = audio->options().sample_rate;
      std::vector<float> w = audio->load_waveform(std::get<data::AudioRef>(*s.field(m)));
      const auto& file =
          noise[std::uniform_int_distribution<std::size_t>(0, noise.size() - 1)(rng)];
      auto clip = cache->get(file, rate, audio->options().resample_quality);
      corrupt_waveform(w, *clip, level, rate, rng);
      return audio->features_from_waveform(std::move(w));
    };
  }
  throw UsageError("no noise model for " + std::string(to_string(target)) +
                   " (robustness covers image, audio and text)");
}

}  // namespace mmfuse::eval
