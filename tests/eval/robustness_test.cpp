// Noise models and the robustness summary: hand-computed areas, the SNR of mixed noise, typos
// that stay valid UTF-8, pixel noise of the requested size; all deterministic.
#include "mmfuse/eval/robustness.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>

#include "mmfuse/core/utf8.h"
#include "mmfuse/eval/corruption.h"
#include "test_util.h"

namespace mmfuse::eval {
namespace {

TEST(Robustness, AreaUnderHandMadeCurves) {
  // Straight line from 1 to 0 over [0, 1]: half.
  EXPECT_NEAR(noise_auc({0, 0.5, 1}, {1, 0.5, 0}), 0.5, 1e-12);
  // Flat curve: its value, whatever the levels.
  EXPECT_NEAR(noise_auc({0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9},
                        {0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8}),
              0.8, 1e-12);
  // Uneven levels: (0.1 * 1 + 0.8 * (1 + 0.2) / 2) / 0.9 = 0.58 / 0.9.
  EXPECT_NEAR(noise_auc({0, 0.1, 0.9}, {1, 1, 0.2}), 0.58 / 0.9, 1e-12);
  EXPECT_NEAR(noise_auc({0.3}, {0.7}), 0.7, 1e-12);
  EXPECT_THROW(noise_auc({0, 0.5}, {1}), Error);
  EXPECT_THROW(noise_auc({0.5, 0.5}, {1, 1}), Error);

  RobustnessResult r;
  r.levels = {0, 1};
  r.curves.push_back({Modality::image, {1, 0}, 0.5, -0.5});
  r.curves.push_back({Modality::text, {1, 0.8}, 0.9, -0.1});
  EXPECT_NEAR(r.mean_auc(), 0.7, 1e-12);
  auto j = r.robustness_json();
  EXPECT_EQ(j["curves"]["text"], nlohmann::json({1, 0.8}));
  EXPECT_NEAR(j["mean_auc"].get<double>(), 0.7, 1e-12);
}

TEST(Robustness, PixelNoiseHasTheLevelAsStdAndStaysInRange) {
  auto gray = torch::full({1, 100, 100}, 0.5f);
  data::Rng a(7), b(7);
  auto x = corrupt_pixels(gray, 0.1, a);
  EXPECT_TRUE(torch::equal(x, corrupt_pixels(gray, 0.1, b)));  // same seed, same noise
  EXPECT_NEAR((x - gray).std().item<double>(), 0.1, 0.004);    // 10000 draws: se ~0.0007
  EXPECT_NEAR((x - gray).mean().item<double>(), 0.0, 0.004);
  auto y = corrupt_pixels(gray, 0.9, a);
  EXPECT_GE(y.min().item<float>(), 0.f);
  EXPECT_LE(y.max().item<float>(), 1.f);
  // Clipping at 0 and 1 takes a good share of the pixels at this level.
  EXPECT_GT((y == 0).sum().item<int64_t>() + (y == 1).sum().item<int64_t>(), 2000);
  EXPECT_TRUE(torch::equal(corrupt_pixels(gray, 0.0, a), gray));
}

TEST(Robustness, TyposAreUtf8SafeAndScaleWithTheLevel) {
  data::Rng rng(3);
  EXPECT_EQ(corrupt_text("sieben", 0.0, rng), "sieben");
  for (const std::string word : {"seven", "なな", "七", "dreihundertsiebenundzwanzig"}) {
    for (double level : {0.1, 0.5, 0.9}) {
      data::Rng r1(11), r2(11);
      const std::string t = corrupt_text(word, level, r1);
      EXPECT_EQ(t, corrupt_text(word, level, r2));
      EXPECT_NO_THROW(utf8::decode(t)) << t;
      EXPECT_FALSE(t.empty());
    }
  }
  // Half of 26 code points: 13 edits change most of the word (each edit moves at most 2 chars).
  const std::string long_word = "dreihundertsiebenundzwanzig";
  data::Rng r(5);
  const std::string t = corrupt_text(long_word, 0.5, r);
  EXPECT_NE(t, long_word);
}

TEST(Robustness, AudioNoiseIsMixedAtTheLevelsSnr) {
  const int rate = 8000;
  std::vector<float> speech(rate), noise(3 * rate);
  for (int i = 0; i < rate; ++i) speech[i] = 0.3f * std::sin(0.05f * i);
  data::Rng nr(1);
  std::normal_distribution<float> n(0.f, 1.f);
  for (auto& v : noise) v = n(nr);
  for (double level : {0.1, 0.5, 0.9}) {
    std::vector<float> mixed = speech;
    data::Rng rng(2);
    corrupt_waveform(mixed, noise, level, rate, rng);
    double ps = 0, pn = 0;
    for (int i = 0; i < rate; ++i) {
      ps += double(speech[i]) * speech[i];
      pn += double(mixed[i] - speech[i]) * (mixed[i] - speech[i]);
    }
    // noise RMS = level x speech RMS, i.e. SNR = -20 log10(level).
    EXPECT_NEAR(std::sqrt(pn / ps), level, 1e-3 * level) << level;
  }
  std::vector<float> same = speech;
  data::Rng rng(2);
  corrupt_waveform(same, noise, 0.0, rate, rng);
  EXPECT_EQ(same, speech);
}

TEST(Robustness, NoiseFolderWithoutAudioIsAnError) {
  testing::TempDir dir;
  std::ofstream(dir.file("readme.txt")) << "no audio here";
  try {
    noise_files(dir.str());
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--noise-dir"), std::string::npos) << e.what();
  }
  std::ofstream(dir.file("b.WAV")) << "x";
  std::ofstream(dir.file("a.flac")) << "x";
  auto files = noise_files(dir.str());
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0], dir.file("a.flac"));
}

}  // namespace
}  // namespace mmfuse::eval
