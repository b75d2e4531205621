#include "mmfuse/data/default_dataset/noise.h"

#include <cmath>

namespace mmfuse::data::default_dataset {

namespace {

// Sentences without digit words, read by the babble talkers (espeak-ng input per language).
const std::array<std::string, kNumLanguages>& babble_sentences() {
  static const std::array<std::string, kNumLanguages> sentences = {{
      "The weather was cold and the market opened late, so we walked along the river and "
      "talked about the old house near the bridge.",
      "jin1 tian1 tian1 qi4 hen3 leng3, wo3 men dou1 zai4 jia1 li3 kan4 shu1 he1 cha2.",
      "El tiempo estaba frío y el mercado abrió tarde, así que caminamos junto al río hablando "
      "de la casa vieja.",
      "Il faisait froid et le marché a ouvert tard, alors nous avons marché le long de la "
      "rivière en parlant de la maison.",
      "Das Wetter war kalt und der Markt öffnete spät, also gingen wir am Fluss entlang und "
      "redeten über das alte Haus.",
      "Il tempo era freddo e il mercato ha aperto tardi, così abbiamo camminato lungo il fiume "
      "parlando della casa vecchia.",
      "O tempo estava frio e o mercado abriu tarde, então caminhamos ao longo do rio falando da "
      "casa velha.",
      "きょうはとてもさむいので、わたしたちはいえでほんをよみました。",
  }};
  return sentences;
}

void normalize_rms(std::vector<float>& x, double target) {
  double sum = 0;
  for (float v : x) sum += static_cast<double>(v) * v;
  const double rms = std::sqrt(sum / std::max<std::size_t>(1, x.size()));
  if (rms <= 0) return;
  const auto g = static_cast<float>(target / rms);
  for (float& v : x) v = std::clamp(v * g, -1.0f, 1.0f);
}

std::vector<float> colored_noise(NoiseKind kind, std::size_t n, Rng& rng) {
  std::normal_distribution<float> white(0.0f, 1.0f);
  std::vector<float> x(n);
  float b0 = 0, b1 = 0, b2 = 0, b3 = 0, b4 = 0, b5 = 0, b6 = 0, brown = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const float w = white(rng);
    if (kind == NoiseKind::white) {
      x[i] = w;
    } else if (kind == NoiseKind::pink) {  // Paul Kellet's refined 1/f filter
      b0 = 0.99886f * b0 + w * 0.0555179f;
      b1 = 0.99332f * b1 + w * 0.0750759f;
      b2 = 0.96900f * b2 + w * 0.1538520f;
      b3 = 0.86650f * b3 + w * 0.3104856f;
      b4 = 0.55000f * b4 + w * 0.5329522f;
      b5 = -0.7616f * b5 - w * 0.0168980f;
      x[i] = b0 + b1 + b2 + b3 + b4 + b5 + b6 + w * 0.5362f;
      b6 = w * 0.115926f;
    } else {  // brown: leaky integration of white noise (1/f^2 above ~10 Hz)
      brown = 0.995f * brown + 0.1f * w;
      x[i] = brown;
    }
  }
  return x;
}

// Talkers reading sentences, each looped from a random point with short pauses, summed at equal
// loudness.
std::vector<float> babble(const std::vector<std::vector<float>>& talkers, std::size_t n,
                          int sample_rate, Rng& rng) {
  std::vector<float> mix(n, 0.0f);
  const std::size_t pause = static_cast<std::size_t>(sample_rate / 5);
  for (const auto& speech : talkers) {
    std::vector<float> track = speech;
    track.resize(track.size() + pause, 0.0f);
    normalize_rms(track, 0.1);
    std::size_t pos =
        static_cast<std::size_t>(uniform_int(rng, 0, static_cast<int>(track.size()) - 1));
    for (std::size_t i = 0; i < n; ++i, pos = (pos + 1) % track.size()) mix[i] += track[pos];
  }
  return mix;
}

}  // namespace

std::string_view to_string(NoiseKind kind) {
  constexpr std::array<std::string_view, kNumNoiseKinds> names = {"white", "pink", "brown",
                                                                  "babble"};
  return names.at(static_cast<std::size_t>(kind));
}

std::vector<NoiseClip> build_noise(const NoiseOptions& o, const SpeechBankOptions& speech,
                                   uint64_t seed, int threads) {
  const auto n = static_cast<std::size_t>(o.seconds * speech.sample_rate);
  // Babble talkers first (espeak-ng calls in parallel), for both groups.
  const std::size_t talkers = static_cast<std::size_t>(std::max(1, o.babble_talkers));
  std::vector<std::vector<float>> voices(2 * talkers);
  parallel_for(voices.size(), threads, [&](std::size_t i) {
    Rng rng = stream_rng(seed, Stream::babble, i);
    const auto language =
        kAllLanguages.at(static_cast<std::size_t>(uniform_int(rng, 0, kNumLanguages - 1)));
    VoiceConfig v = draw_voice(speech, language, rng);
    voices[i] =
        speak(speech.espeak, v, babble_sentences()[index_of(v.language)], speech.sample_rate);
  });
  std::vector<NoiseClip> clips;
  for (int g = 0; g < 2; ++g) {
    for (std::size_t k = 0; k < kNumNoiseKinds; ++k) {
      NoiseClip clip;
      clip.kind = static_cast<NoiseKind>(k);
      clip.group = static_cast<NoiseGroup>(g);
      clip.file = std::string("noise/") + (g == 0 ? "train" : "test") + "_" +
                  std::string(to_string(clip.kind)) + ".wav";
      Rng rng = stream_rng(seed, Stream::noise, g * kNumNoiseKinds + k);
      if (clip.kind == NoiseKind::babble) {
        std::vector<std::vector<float>> group(voices.begin() + g * talkers,
                                              voices.begin() + (g + 1) * talkers);
        clip.samples = babble(group, n, speech.sample_rate, rng);
      } else {
        clip.samples = colored_noise(clip.kind, n, rng);
      }
      normalize_rms(clip.samples, 0.1);
      clips.push_back(std::move(clip));
    }
  }
  return clips;
}

}  // namespace mmfuse::data::default_dataset
