// Audio decoding, resampling, noise mixing and the noise cache.
#include <torch/torch.h>

#include <fstream>
#include <thread>

#include "data/audio_test_util.h"
#include "mmfuse/core/error.h"
#include "mmfuse/data/audio/audio_io.h"
#include "test_util.h"

namespace mmfuse::data::audio {
namespace {

using mmfuse::testing::sine;
using mmfuse::testing::TempDir;
using mmfuse::testing::write_audio;

// The InputError `fn` throws; fails the test when it throws nothing or something else.
template <class Fn>
InputError input_error(Fn fn) {
  try {
    fn();
  } catch (const InputError& e) {
    return e;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected InputError, got: " << e.what();
    return InputError("wrong exception");
  }
  ADD_FAILURE() << "expected InputError, nothing thrown";
  return InputError("nothing thrown");
}

// Index of the largest |rfft| bin of `x`.
int64_t peak_bin(const std::vector<float>& x) {
  auto t = torch::from_blob(const_cast<float*>(x.data()), {static_cast<int64_t>(x.size())});
  return torch::fft::rfft(t).abs().argmax().item<int64_t>();
}

TEST(AudioRead, Pcm16WavMatchesInt16Over32768) {
  TempDir dir;
  // PCM16 stores round(x * 32767)... libsndfile scales by 32767 on write and 1/32768 on read.
  std::vector<float> x = {0.0f, 0.5f, -0.5f, 0.25f};
  write_audio(dir.file("a.wav"), x, 8000);
  Waveform w = read_audio(dir.file("a.wav"));
  EXPECT_EQ(w.sample_rate, 8000);
  ASSERT_EQ(w.samples.size(), 4u);
  // 0.5 * 32767 = 16383.5 -> 16384 (libsndfile rounds) -> 16384 / 32768 = 0.5
  EXPECT_FLOAT_EQ(w.samples[1], 16384.0f / 32768.0f);
  EXPECT_FLOAT_EQ(w.samples[2], -16384.0f / 32768.0f);
  EXPECT_NEAR(w.samples[3], 0.25f, 1.0f / 32768);
}

TEST(AudioRead, StereoIsAveragedToMono) {
  TempDir dir;
  // Interleaved L, R: (0.5, -0.25) and (0.0, 1.0 - 2^-15 would clip; use 0.75).
  write_audio(dir.file("s.wav"), {0.5f, -0.25f, 0.0f, 0.75f}, 16000, 2,
              SF_FORMAT_WAV | SF_FORMAT_FLOAT);
  Waveform w = read_audio(dir.file("s.wav"));
  ASSERT_EQ(w.samples.size(), 2u);
  EXPECT_FLOAT_EQ(w.samples[0], 0.125f);
  EXPECT_FLOAT_EQ(w.samples[1], 0.375f);
}

TEST(AudioRead, FlacAndOggDecode) {
  TempDir dir;
  auto tone = sine(440, 16000, 8000);
  write_audio(dir.file("t.flac"), tone, 16000, 1, SF_FORMAT_FLAC | SF_FORMAT_PCM_16);
  Waveform flac = read_audio(dir.file("t.flac"));
  ASSERT_EQ(flac.samples.size(), tone.size());
  for (std::size_t i = 0; i < tone.size(); ++i) ASSERT_NEAR(flac.samples[i], tone[i], 1.0 / 32768);

  write_audio(dir.file("t.ogg"), tone, 16000, 1, SF_FORMAT_OGG | SF_FORMAT_VORBIS);
  Waveform ogg = read_audio(dir.file("t.ogg"));
  EXPECT_EQ(ogg.sample_rate, 16000);
  ASSERT_EQ(ogg.samples.size(), tone.size());
  EXPECT_EQ(peak_bin(ogg.samples), 440 * 8000 / 16000);  // lossy, but the tone stays at 440 Hz
}

TEST(AudioRead, TruncatedWavNamesTheFile) {
  TempDir dir;
  write_audio(dir.file("full.wav"), sine(440, 8000, 4000), 8000);
  std::string bytes;
  {
    std::ifstream in(dir.file("full.wav"), std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  ASSERT_EQ(bytes.size(), 44u + 8000u);
  std::ofstream(dir.file("cut.wav"), std::ios::binary) << bytes.substr(0, 44 + 1000);
  InputError e = input_error([&] { read_audio(dir.file("cut.wav")); });
  EXPECT_EQ(e.file(), dir.file("cut.wav"));
  EXPECT_NE(e.reason().find("truncated"), std::string::npos) << e.what();
  EXPECT_NE(e.reason().find("4000"), std::string::npos) << e.what();  // declared frames
  EXPECT_NE(e.reason().find("500"), std::string::npos) << e.what();   // frames present
}

TEST(AudioRead, CorruptMissingAndEmptyFilesNameTheFile) {
  TempDir dir;
  std::ofstream(dir.file("junk.wav"), std::ios::binary) << "this is not audio at all, just text";
  InputError corrupt = input_error([&] { read_audio(dir.file("junk.wav")); });
  EXPECT_EQ(corrupt.file(), dir.file("junk.wav"));
  EXPECT_NE(corrupt.reason().find("cannot decode"), std::string::npos) << corrupt.what();

  InputError missing = input_error([&] { read_audio(dir.file("nope.wav")); });
  EXPECT_EQ(missing.file(), dir.file("nope.wav"));

  std::ofstream(dir.file("empty.wav"), std::ios::binary).flush();
  EXPECT_EQ(input_error([&] { read_audio(dir.file("empty.wav")); }).file(), dir.file("empty.wav"));

  write_audio(dir.file("zero.wav"), {}, 8000);
  InputError zero = input_error([&] { read_audio(dir.file("zero.wav")); });
  EXPECT_NE(zero.reason().find("zero-length"), std::string::npos) << zero.what();
}

TEST(AudioResample, KeepsAToneFrequency) {
  // 1 kHz at 8 kHz, 0.5 s -> 16 kHz: 8000 samples; rfft bins are 2 Hz apart -> bin 500.
  auto tone = sine(1000, 8000, 4000);
  for (auto q : {ResampleQuality::sinc_best, ResampleQuality::sinc_fastest}) {
    auto up = resample(tone, 8000, 16000, q);
    ASSERT_EQ(up.size(), 8000u) << to_string(q);
    EXPECT_EQ(peak_bin(up), 500) << to_string(q);
    // The amplitude is kept too: RMS of 0.5 sin is 0.5 / sqrt(2) (away from the edges).
    double sq = 0;
    for (std::size_t i = 1000; i < 7000; ++i) sq += double(up[i]) * up[i];
    EXPECT_NEAR(std::sqrt(sq / 6000), 0.5 / std::sqrt(2.0), 0.005) << to_string(q);
  }
  EXPECT_EQ(resample(tone, 8000, 8000, ResampleQuality::linear), tone);
  EXPECT_THROW(resample(tone, 0, 8000, ResampleQuality::linear), Error);
}

TEST(AudioNoise, HandComputedWrapAndGain) {
  // rate 1 Hz so offset_s counts samples; round(2.5) = 2 (half to even, as Python).
  std::vector<float> speech = {1, 1, 1, 1};
  const std::vector<float> noise = {1, 2, 3};
  mix_noise(speech, noise, 2.5, 0.0, 1);
  // start 2: noise read as 3, 1, 2, 3; ps = 4, pn = 23, g = sqrt(4 / 23).
  const float g = static_cast<float>(std::sqrt(4.0 / 23.0));
  const float expected[] = {1 + g * 3, 1 + g * 1, 1 + g * 2, 1 + g * 3};
  for (int i = 0; i < 4; ++i) EXPECT_FLOAT_EQ(speech[i], expected[i]) << i;

  std::vector<float> quiet = {0.5f, -0.5f};
  mix_noise(quiet, std::vector<float>{0.0f, 0.0f, 0.0f}, 0.0, 10.0, 8000);
  EXPECT_EQ(quiet, (std::vector<float>{0.5f, -0.5f}));  // silent noise: unchanged
}

TEST(AudioNoise, AchievesTheRequestedSnr) {
  auto speech = sine(300, 8000, 6000, 0.3);
  torch::manual_seed(0);
  auto nt = torch::randn({2500}) * 0.1;
  std::vector<float> noise(nt.data_ptr<float>(), nt.data_ptr<float>() + nt.numel());
  for (double snr : {-12.0, -3.5, 0.0, 7.25}) {
    auto mixed = speech;
    mix_noise(mixed, noise, 0.1234, snr, 8000);
    double ps = 0, pn = 0;
    for (std::size_t i = 0; i < speech.size(); ++i) {
      const double added = double(mixed[i]) - speech[i];
      ps += double(speech[i]) * speech[i];
      pn += added * added;
    }
    EXPECT_NEAR(10 * std::log10(ps / pn), snr, 1e-3);
  }
}

TEST(AudioCacheTest, DecodesOnceAndSharesAcrossThreads) {
  TempDir dir;
  write_audio(dir.file("n.wav"), sine(200, 8000, 800), 8000);
  AudioCache cache;
  std::vector<std::shared_ptr<const std::vector<float>>> got(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back(
        [&, i] { got[i] = cache.get(dir.file("n.wav"), 8000, ResampleQuality::linear); });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(cache.size(), 1u);
  for (int i = 1; i < 4; ++i) EXPECT_EQ(*got[i], *got[0]);
  EXPECT_EQ(cache.get(dir.file("n.wav"), 8000, ResampleQuality::linear), got[0]);  // same object
  auto up = cache.get(dir.file("n.wav"), 16000, ResampleQuality::linear);
  EXPECT_EQ(up->size(), 1600u);
  EXPECT_EQ(cache.size(), 2u);
}

}  // namespace
}  // namespace mmfuse::data::audio
