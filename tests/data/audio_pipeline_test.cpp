// The "audio" pipeline: config checking, shapes, collate, seeded augmentation, fitted
// standardisation and its saved state.
#include <torch/torch.h>

#include "data/audio_test_util.h"
#include "mmfuse/core/config.h"
#include "mmfuse/data/audio/audio_pipeline.h"
#include "mmfuse/data/pipeline_registry.h"
#include "test_util.h"

namespace mmfuse::data::audio {
namespace {

using mmfuse::testing::sine;
using mmfuse::testing::TempDir;
using mmfuse::testing::write_audio;

std::shared_ptr<ModalityPipeline> make(const std::string& yaml, const std::string& base = ".") {
  return pipeline_registry().create("audio", {Modality::audio, base}, ConfigNode::parse(yaml));
}

Field audio(const std::string& path) {
  return Field(AudioRef{path, std::nullopt});
}

// Two clips (0.5 s and 0.3 s at 16 kHz) and a folder of two noise files, in `dir`.
void write_clips(const TempDir& dir) {
  torch::manual_seed(3);
  auto noisy_tone = [](double freq, int64_t n) {
    auto x = sine(freq, 16000, n);
    auto hiss = torch::randn({n}) * 0.02;
    for (int64_t i = 0; i < n; ++i) x[i] += hiss[i].item<float>();
    return x;
  };
  write_audio(dir.file("a.wav"), noisy_tone(440, 8000), 16000);
  write_audio(dir.file("b.wav"), noisy_tone(880, 4800), 16000);
  std::filesystem::create_directories(dir.file("noise"));
  for (const char* name : {"n1.wav", "n2.wav"}) {
    auto n = (torch::rand({6000}) - 0.5) * 0.5;
    write_audio(dir.file("noise/") + name,
                std::vector<float>(n.data_ptr<float>(), n.data_ptr<float>() + n.numel()), 8000);
  }
}

TEST(AudioPipelineConfig, RejectsTyposAndBadValuesNamingThePath) {
  try {
    make("features: logmel\nmax_seconds: 1\nn_mesl: 40");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("n_mesl"), std::string::npos) << e.what();
  }
  try {
    make("features: logmel\nmax_seconds: 1\nmel_scale: bark");
    FAIL() << "expected ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("mel_scale"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("slaney"), std::string::npos) << e.what();
  }
  // Fixed size needs max_seconds; without it clips keep their length.
  EXPECT_THROW(make("features: logmel\nvariable_length: false"), ConfigError);
  EXPECT_EQ(make("features: logmel\nn_mels: 40")->item_shape(), (std::vector<int64_t>{-1, 40}));
  EXPECT_THROW(make("features: mfcc\nmax_seconds: 1\nn_mels: 10\nn_mfcc: 20"), ConfigError);
  EXPECT_THROW(make("features: logmel\nmax_seconds: 1\naugment: {noise_dir: /no/such/dir}"),
               ConfigError);
  EXPECT_THROW(make("features: avmnist_spectrogram\nvariable_length: true"), ConfigError);
  EXPECT_THROW(pipeline_registry().create("audio", {Modality::image, "."},
                                          ConfigNode::parse("features: avmnist_spectrogram")),
               ConfigError);
}

TEST(AudioPipelineShapes, FixedLengthItemsStackAndMatchItemShape) {
  TempDir dir;
  write_clips(dir);
  // 0.4 s at 16 kHz = 6400 samples; hop 160 -> 1 + 6400 / 160 = 41 frames.
  auto p = make(
      "features: logmel\nsample_rate: 16000\nn_fft: 512\nhop: 160\nwin: 400\n"
      "n_mels: 40\nmax_seconds: 0.4");
  EXPECT_EQ(p->item_shape(), (std::vector<int64_t>{1, 40, 41}));
  auto a = p->extract(audio(dir.file("a.wav")));  // trimmed
  auto b = p->extract(audio(dir.file("b.wav")));  // padded
  EXPECT_EQ(a.sizes(), (std::vector<int64_t>{1, 40, 41}));
  EXPECT_EQ(b.sizes(), a.sizes());
  auto batch = p->collate({a, torch::Tensor(), b});
  EXPECT_EQ(batch.data.sizes(), (std::vector<int64_t>{3, 1, 40, 41}));
  EXPECT_EQ(batch.present[1].item<bool>(), false);

  auto mf = make("features: mfcc\nn_fft: 512\nhop: 160\nn_mels: 40\nn_mfcc: 13\nmax_seconds: 0.4");
  EXPECT_EQ(mf->extract(audio(dir.file("a.wav"))).sizes(), (std::vector<int64_t>{1, 13, 41}));
  auto wf = make("features: waveform\nsample_rate: 8000\nmax_seconds: 0.25");
  auto w = wf->extract(audio(dir.file("b.wav")));  // resampled 16 -> 8 kHz, 2000 samples
  EXPECT_EQ(w.sizes(), (std::vector<int64_t>{1, 2000}));
  EXPECT_EQ(wf->item_shape(), (std::vector<int64_t>{1, 2000}));
}

TEST(AudioPipelineShapes, VariableLengthPadsToTheLongestWithLengths) {
  TempDir dir;
  write_clips(dir);
  auto p = make("features: spectrogram\nn_fft: 256\nhop: 128\nvariable_length: true");
  EXPECT_EQ(p->item_shape(), (std::vector<int64_t>{-1, 129}));
  auto a = p->extract(audio(dir.file("a.wav")));  // 8000 samples: 1 + 8000 / 128 = 63 frames
  auto b = p->extract(audio(dir.file("b.wav")));  // 4800: 38 frames
  ASSERT_EQ(a.sizes(), (std::vector<int64_t>{63, 129}));
  ASSERT_EQ(b.sizes(), (std::vector<int64_t>{38, 129}));
  auto batch = p->collate({b, a, torch::Tensor()});
  EXPECT_EQ(batch.data.sizes(), (std::vector<int64_t>{3, 63, 129}));
  EXPECT_EQ(batch.lengths[0].item<int64_t>(), 38);
  EXPECT_EQ(batch.lengths[1].item<int64_t>(), 63);
  EXPECT_EQ(batch.lengths[2].item<int64_t>(), 0);
  EXPECT_TRUE(torch::equal(batch.data[0].slice(0, 0, 38), b));
  EXPECT_EQ(batch.data[0].slice(0, 38).abs().sum().item<float>(), 0.0f);
  EXPECT_TRUE(torch::equal(batch.present, torch::tensor({true, true, false})));
}

TEST(AudioPipelineAugment, DeterministicPerSeed) {
  TempDir dir;
  write_clips(dir);
  auto p = make(
      "features: logmel\nn_fft: 512\nhop: 160\nn_mels: 40\nmax_seconds: 0.5\n"
      "augment:\n  gain_db: [-6, 6]\n  time_shift_s: 0.05\n  noise_dir: noise\n"
      "  noise_snr_db: [0, 10]\n  spec_time_masks: 2\n  spec_time_mask_max: 5\n"
      "  spec_freq_masks: 1\n  spec_freq_mask_max: 8",
      dir.str());
  const Field f = audio(dir.file("a.wav"));
  const auto clean = p->extract(f);
  auto run = [&](uint64_t seed) {
    Rng rng(seed);
    return p->augment(f, clean, rng);
  };
  auto a1 = run(1), a2 = run(1), b = run(2);
  EXPECT_EQ(a1.sizes(), clean.sizes());
  EXPECT_TRUE(torch::equal(a1, a2));
  EXPECT_FALSE(torch::equal(a1, b));
  EXPECT_FALSE(torch::equal(a1, clean));
  // The cached clean features were not modified in place.
  EXPECT_TRUE(torch::equal(clean, p->extract(f)));
}

TEST(AudioPipelineAugment, SpecAugmentMasksWholeRowsAndColumns) {
  TempDir dir;
  write_clips(dir);
  auto p = make(
      "features: avmnist_spectrogram\nsample_rate: 16000\n"
      "augment: {spec_freq_masks: 1, spec_freq_mask_max: 20}");
  const Field f = audio(dir.file("a.wav"));
  const auto clean = p->extract(f);
  const float mean = clean.mean().item<float>();
  for (uint64_t seed = 0; seed < 5; ++seed) {
    Rng rng(seed);
    auto out = p->augment(f, clean, rng);
    // Rows (frequencies) that changed are entirely the item's mean; columns are untouched.
    auto changed = (out != clean).any(2)[0];  // [112]
    const int64_t n = changed.sum().item<int64_t>();
    EXPECT_LE(n, 20);
    for (int64_t r = 0; r < 112; ++r) {
      if (changed[r].item<bool>()) {
        EXPECT_TRUE((out[0][r] == mean).all().item<bool>()) << r;
      }
    }
  }
}

TEST(AudioPipelineNormalize, FitStandardizesAndStateRoundTrips) {
  TempDir dir;
  write_clips(dir);
  const std::string yaml =
      "features: logmel\nn_fft: 512\nhop: 160\nn_mels: 16\nmax_seconds: 0.3\nnormalize: "
      "standardize";
  auto p = make(yaml);
  std::vector<Field> fields = {audio(dir.file("a.wav")), audio(dir.file("b.wav"))};
  FitContext ctx;
  ctx.size = fields.size();
  ctx.field = [&](std::size_t i) -> const Field& { return fields[i]; };
  ctx.features = [&](std::size_t i) { return p->extract(fields[i]); };
  EXPECT_THROW(p->finalize(p->extract(fields[0])), Error);  // not fitted yet
  p->fit(ctx);
  // Over the training frames every mel bin now has mean 0 and std 1.
  auto all =
      torch::cat({p->finalize(p->extract(fields[0]))[0], p->finalize(p->extract(fields[1]))[0]}, 1);
  EXPECT_LT(all.mean(1).abs().max().item<float>(), 1e-4);
  auto sd = (all - all.mean(1, true)).square().mean(1).sqrt();
  EXPECT_LT((sd - 1).abs().max().item<float>(), 1e-3);

  auto q = make(yaml);
  q->load_state(nlohmann::json::parse(p->state().dump()));
  auto x = p->extract(fields[1]);
  EXPECT_TRUE(torch::allclose(q->finalize(x), p->finalize(x)));
  auto bad = p->state();
  bad["mean"] = std::vector<float>{1, 2};
  EXPECT_THROW(q->load_state(bad), Error);
}

TEST(AudioPipelineCache, KeyCoversExtractSettingsOnly) {
  auto base = make("features: logmel\nmax_seconds: 1");
  EXPECT_TRUE(base->cacheable());
  EXPECT_NE(base->cache_key(), make("features: logmel\nmax_seconds: 1\nn_mels: 40")->cache_key());
  EXPECT_NE(base->cache_key(), make("features: logmel\nmax_seconds: 2")->cache_key());
  EXPECT_NE(base->cache_key(),
            make("features: logmel\nmax_seconds: 1\nmel_scale: slaney")->cache_key());
  EXPECT_NE(base->cache_key(),
            make("features: logmel\nmax_seconds: 1\nsample_rate: 8000")->cache_key());
  EXPECT_EQ(base->cache_key(), make("features: logmel\nmax_seconds: 1\nnormalize: standardize\n"
                                    "augment: {gain_db: [-3, 3]}")
                                   ->cache_key());
}

TEST(AudioPipelineErrors, BadFieldsAndFilesAreInputErrors) {
  TempDir dir;
  auto p = make("features: avmnist_spectrogram");
  EXPECT_THROW(p->extract(Field(std::string("text"))), InputError);
  std::ofstream(dir.file("bad.wav")) << "RIFF....WAVEjunk";
  try {
    p->extract(audio(dir.file("bad.wav")));
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_EQ(e.file(), dir.file("bad.wav"));
  }
  write_audio(dir.file("ok.wav"), sine(300, 8000, 2000), 8000);
  try {
    p->extract(Field(AudioRef{dir.file("ok.wav"), NoiseSpec{dir.file("no_noise.wav"), 0.0, 0.0}}));
    FAIL() << "expected InputError";
  } catch (const InputError& e) {
    EXPECT_EQ(e.file(), dir.file("no_noise.wav"));  // the missing noise file is named
  }
}

}  // namespace
}  // namespace mmfuse::data::audio
