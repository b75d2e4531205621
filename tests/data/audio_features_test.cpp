// Audio features: tones land in the right bins and bands; mel filterbanks and MFCC match a
// numpy implementation of librosa's formulas; the AV-MNIST spectrogram matches the peer.
#include <torch/torch.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "data/audio_test_util.h"
#include "mmfuse/core/config.h"
#include "mmfuse/data/audio/audio_pipeline.h"
#include "mmfuse/data/audio/features.h"
#include "mmfuse/data/audio/frame_spectrum.h"
#include "test_util.h"

namespace mmfuse::data::audio {
namespace {

using mmfuse::testing::parse_numbers;
using mmfuse::testing::read_f32;
using mmfuse::testing::run_python;
using mmfuse::testing::sine;
using mmfuse::testing::TempDir;

torch::Tensor as_tensor(std::vector<float>& x) {
  return torch::from_blob(x.data(), {static_cast<int64_t>(x.size())}, torch::kFloat);
}

TEST(AudioFeatures, ToneSpectrogramPeaksInItsBin) {
  auto x = sine(1000, 16000, 8000);
  StftOptions o{512, 128, 400, true};
  torch::Tensor s = log_spectrogram(as_tensor(x), o);  // [257, T]
  ASSERT_EQ(s.sizes(), (std::vector<int64_t>{257, 1 + 8000 / 128}));
  EXPECT_EQ(stft_frames(8000, o), s.size(1));
  // 1000 Hz / (16000 Hz / 512) = bin 32, in every frame away from the clip's edges.
  auto peaks = s.slice(1, 4, -4).argmax(0);
  EXPECT_TRUE((peaks == 32).all().item<bool>()) << peaks;
}

TEST(AudioFeatures, ToneLogMelPeaksInItsBand) {
  StftOptions o{512, 128, 512, true};
  // HTK, 64 bands over 0-8 kHz: mel(1000 Hz) / (mel(8000 Hz) / 65) = 999.99 / 43.69 = 22.89, so
  // 1 kHz sits near the centre of band 22 (centres are edge points 1..64).
  auto x = sine(1000, 16000, 8000);
  auto fb = mel_filterbank(512, 16000, {64, 0, 8000, MelScale::htk, MelNorm::none});
  auto lm = log_mel(stft_magnitude(as_tensor(x), o, 2.0), fb, LogKind::natural, 1e-6);
  EXPECT_TRUE((lm.slice(1, 4, -4).argmax(0) == 22).all().item<bool>());
  // Slaney, 40 bands: 600 Hz is linear (600 / (200/3) = 9 mel); mel(8000) = 15 + ln 8 / (ln 6.4
  // / 27) = 45.246, spacing 45.246 / 41 = 1.1036, 9 / 1.1036 = 8.16 -> band 7.
  auto y = sine(600, 16000, 8000);
  auto fb_slaney = mel_filterbank(512, 16000, {40, 0, 8000, MelScale::slaney, MelNorm::none});
  auto lm2 = log_mel(stft_magnitude(as_tensor(y), o, 2.0), fb_slaney, LogKind::db, 1e-10);
  EXPECT_TRUE((lm2.slice(1, 4, -4).argmax(0) == 7).all().item<bool>());
}

TEST(AudioFeatures, MelScaleHandValues) {
  EXPECT_NEAR(hz_to_mel(700, MelScale::htk), 2595 * std::log10(2.0), 1e-9);
  EXPECT_NEAR(hz_to_mel(500, MelScale::slaney), 7.5, 1e-12);
  EXPECT_NEAR(hz_to_mel(6400, MelScale::slaney), 15 + 27, 1e-9);  // 1 kHz * 6.4 is 27 steps up
  for (double hz : {0.0, 250.0, 999.0, 1000.0, 4321.0, 11025.0}) {
    for (auto s : {MelScale::htk, MelScale::slaney}) {
      EXPECT_NEAR(mel_to_hz(hz_to_mel(hz, s), s), hz, 1e-9);
    }
  }
}

// librosa.filters.mel and librosa.feature.mfcc's steps written out in numpy (librosa itself is
// not installed); scipy's DCT-II with norm='ortho'.
constexpr const char* kMelScript = R"PY(
import sys, numpy as np, scipy.fft

def hz_to_mel(f, htk):
    f = np.asanyarray(f, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_mel + np.log(np.maximum(f, 1e-10) / min_log_hz) / logstep, f / f_sp)

def mel_to_hz(m, htk):
    m = np.asanyarray(m, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel, logstep = min_log_hz / f_sp, np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)

def mel(sr, n_fft, n_mels, fmin, fmax, htk, norm):
    fftfreqs = np.fft.rfftfreq(n=n_fft, d=1.0 / sr)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(fmin, htk), hz_to_mel(fmax, htk), n_mels + 2), htk)
    fdiff, ramps = np.diff(mel_f), np.subtract.outer(mel_f, fftfreqs)
    w = np.zeros((n_mels, len(fftfreqs)))
    for i in range(n_mels):
        w[i] = np.maximum(0, np.minimum(-ramps[i] / fdiff[i], ramps[i + 2] / fdiff[i + 1]))
    if norm == 'slaney':
        w *= (2.0 / (mel_f[2:n_mels + 2] - mel_f[:n_mels]))[:, None]
    return w

mode, out = sys.argv[1], sys.argv[2]
if mode == 'fb':
    rows = []
    for case in sys.argv[3:]:
        sr, n_fft, n_mels, fmin, fmax, htk, norm = case.split(',')
        rows.append(mel(float(sr), int(n_fft), int(n_mels), float(fmin), float(fmax), htk == 'htk', norm).ravel())
    np.concatenate(rows).astype(np.float32).tofile(out)
else:  # mfcc: wave file, sr, n_fft, hop, win, n_mels, n_mfcc
    x = np.fromfile(sys.argv[3], np.float32).astype(np.float64)
    sr, n_fft, hop, win, n_mels, n_mfcc = float(sys.argv[4]), *map(int, sys.argv[5:10])
    w = np.zeros(n_fft)
    lpad = (n_fft - win) // 2
    w[lpad:lpad + win] = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(win) / win)  # periodic Hann
    xp = np.pad(x, n_fft // 2, mode='reflect')
    frames = 1 + (len(xp) - n_fft) // hop
    spec = np.stack([np.fft.rfft(xp[t * hop:t * hop + n_fft] * w) for t in range(frames)], axis=1)
    power = np.abs(spec) ** 2
    m = mel(sr, n_fft, n_mels, 0.0, sr / 2, False, 'slaney') @ power
    logmel = np.log(m + 1e-6)
    db = 10 * np.log10(np.maximum(m, 1e-10))
    mfcc = scipy.fft.dct(logmel, type=2, axis=0, norm='ortho')[:n_mfcc]
    np.concatenate([logmel.ravel(), db.ravel(), mfcc.ravel()]).astype(np.float32).tofile(out)
)PY";

TEST(AudioFeatures, MelFilterbankMatchesNumpyLibrosa) {
  MMFUSE_REQUIRE_PYTHON();
  TempDir dir;
  struct Case {
    double sr;
    int64_t n_fft;
    MelOptions mel;
    std::string arg;
  };
  const std::vector<Case> cases = {
      {16000, 512, {40, 0, 8000, MelScale::htk, MelNorm::none}, "16000,512,40,0,8000,htk,none"},
      {16000, 512, {40, 0, 8000, MelScale::htk, MelNorm::slaney}, "16000,512,40,0,8000,htk,slaney"},
      {22050,
       1024,
       {64, 30, 11025, MelScale::slaney, MelNorm::none},
       "22050,1024,64,30,11025,slaney,none"},
      {22050,
       1024,
       {64, 30, 11025, MelScale::slaney, MelNorm::slaney},
       "22050,1024,64,30,11025,slaney,slaney"},
      {8000,
       255,
       {23, 100, 3500, MelScale::slaney, MelNorm::slaney},
       "8000,255,23,100,3500,slaney,slaney"},
  };
  std::string args = "fb " + dir.file("fb.f32");
  for (const auto& c : cases) args += " " + c.arg;
  run_python(dir.str(), kMelScript, args);
  auto ref = read_f32(dir.file("fb.f32"));
  std::size_t at = 0;
  for (const auto& c : cases) {
    auto fb = mel_filterbank(c.n_fft, c.sr, c.mel).contiguous();
    ASSERT_EQ(fb.sizes(), (std::vector<int64_t>{c.mel.n_mels, c.n_fft / 2 + 1})) << c.arg;
    ASSERT_LE(at + fb.numel(), ref.size()) << c.arg;
    auto expected = torch::from_blob(ref.data() + at, fb.sizes(), torch::kFloat);
    at += fb.numel();
    EXPECT_LT((fb - expected).abs().max().item<float>(), 1e-4) << c.arg;
    EXPECT_GT(expected.max().item<float>(), 0.0f) << c.arg;  // not an empty comparison
  }
  EXPECT_EQ(at, ref.size());
}

TEST(AudioFeatures, LogMelAndMfccMatchNumpyLibrosa) {
  MMFUSE_REQUIRE_PYTHON();
  TempDir dir;
  // Two tones and a little deterministic noise so every band has energy.
  auto x = sine(440, 16000, 6000, 0.4);
  auto y = sine(3100, 16000, 6000, 0.2);
  torch::manual_seed(1);
  auto noise = torch::randn({6000}) * 0.01;
  for (int i = 0; i < 6000; ++i) x[i] += y[i] + noise[i].item<float>();
  std::ofstream(dir.file("x.f32"), std::ios::binary)
      .write(reinterpret_cast<const char*>(x.data()), x.size() * sizeof(float));
  run_python(dir.str(), kMelScript,
             "mfcc " + dir.file("ref.f32") + " " + dir.file("x.f32") + " 16000 512 160 400 40 13");
  auto ref = read_f32(dir.file("ref.f32"));

  StftOptions o{512, 160, 400, true};
  auto fb = mel_filterbank(512, 16000, {40, 0, 8000, MelScale::slaney, MelNorm::slaney});
  auto power = stft_magnitude(as_tensor(x), o, 2.0);
  auto ln = log_mel(power, fb, LogKind::natural, 1e-6);
  auto db = log_mel(power, fb, LogKind::db, 1e-10);
  auto cc = mfcc(ln, dct_ortho(13, 40));
  const int64_t t = stft_frames(6000, o);
  ASSERT_EQ(ln.sizes(), (std::vector<int64_t>{40, t}));
  ASSERT_EQ(cc.sizes(), (std::vector<int64_t>{13, t}));
  ASSERT_EQ(ref.size(), static_cast<std::size_t>(2 * 40 * t + 13 * t));
  auto r = torch::from_blob(ref.data(), {static_cast<int64_t>(ref.size())}, torch::kFloat);
  auto ref_ln = r.slice(0, 0, 40 * t).view({40, t});
  auto ref_db = r.slice(0, 40 * t, 80 * t).view({40, t});
  auto ref_cc = r.slice(0, 80 * t).view({13, t});
  EXPECT_LT((ln - ref_ln).abs().max().item<float>(), 1e-4);
  EXPECT_LT((db - ref_db).abs().max().item<float>(), 1e-3);  // dB = 4.34 x natural log
  EXPECT_LT((cc - ref_cc).abs().max().item<float>(), 1e-4);
  EXPECT_GT(ref_cc.abs().max().item<float>(), 1.0f);
}

TEST(AudioFeatures, DctIsOrthonormal) {
  auto d = dct_ortho(40, 40);  // square: D^T D = I
  EXPECT_TRUE(torch::allclose(d.t().matmul(d), torch::eye(40), 1e-5, 1e-5));
  // First coefficient of a constant c over n bands is c * sqrt(n).
  auto c = mfcc(torch::full({40, 1}, 2.0f), dct_ortho(13, 40));
  EXPECT_NEAR(c[0][0].item<float>(), 2.0 * std::sqrt(40.0), 1e-4);
  EXPECT_NEAR(c.slice(0, 1).abs().max().item<float>(), 0.0, 1e-4);
}

TEST(AudioFeatures, FrameSpectrumMatchesTorchStft) {
  // Radix 4, 2, small and large odd primes, and frame counts that do not fill the 8 lanes.
  torch::manual_seed(7);
  for (int64_t n_fft : {2, 8, 12, 16, 30, 194, 222, 256}) {
    for (int64_t hop : {1, 5, 37}) {
      const int64_t frames = 1 + (hop * 13 + 3) % 21;
      const int64_t len = (frames - 1) * hop + n_fft;
      auto x = torch::randn({len});
      auto ref = torch::stft(x, n_fft, hop, n_fft, torch::hann_window(n_fft), false, "reflect",
                             false, true, true)
                     .abs()
                     .square();  // [n_fft / 2 + 1, frames]
      ASSERT_EQ(ref.size(1), frames);
      ref = ref.contiguous();
      auto ours = torch::empty(ref.sizes());
      FrameSpectrum(n_fft).power(x.data_ptr<float>(), frames, hop, ours.data_ptr<float>(), frames);
      const float tol = 1e-5f * ref.max().item<float>();
      EXPECT_LT((ours - ref).abs().max().item<float>(), tol) << "n_fft " << n_fft << " hop " << hop;
    }
  }
  EXPECT_THROW(FrameSpectrum(7), Error);
  EXPECT_EQ(FrameSpectrum::get(222), FrameSpectrum::get(222));  // one shared plan per size
}

// The peer's audio_features on real AV-MNIST samples (FSDD speech + real noise).
constexpr const char* kPeerScript = R"PY(
import sys, json, numpy as np
sys.path.insert(0, sys.argv[1])
import avmnist_peer
specs = json.load(open(sys.argv[3]))
np.stack([avmnist_peer.audio_features(sys.argv[2], s) for s in specs]).astype(np.float32).tofile(sys.argv[4])
)PY";

TEST(AudioFeatures, AvmnistSpectrogramMatchesPeer) {
  MMFUSE_REQUIRE_SHARED();
  MMFUSE_REQUIRE_PYTHON();
  TempDir dir;
  const std::string shared = mmfuse::testing::shared_dir();
  const std::string base = shared + "/data/avmnist";
  // The first lines of the train and test manifests, and one clip without noise.
  std::vector<nlohmann::json> specs;
  for (const char* split : {"train.jsonl", "test.jsonl"}) {
    std::ifstream in(base + "/" + split);
    std::string line;
    for (int i = 0; i < 3 && std::getline(in, line); ++i)
      specs.push_back(nlohmann::json::parse(line)["audio"]);
  }
  specs.push_back(specs[0]["file"]);
  ASSERT_EQ(specs.size(), 7u);
  std::ofstream(dir.file("specs.json")) << nlohmann::json(specs).dump();
  run_python(dir.str(), kPeerScript,
             shared + "/peers " + base + " " + dir.file("specs.json") + " " + dir.file("peer.f32"));
  auto ref = read_f32(dir.file("peer.f32"));
  ASSERT_EQ(ref.size(), specs.size() * 112 * 112);

  auto pipeline = AudioPipeline::create({Modality::audio, base},
                                        ConfigNode::parse("features: avmnist_spectrogram"));
  EXPECT_EQ(pipeline->item_shape(), (std::vector<int64_t>{1, 112, 112}));
  for (std::size_t i = 0; i < specs.size(); ++i) {
    AudioRef ref_field;
    const auto& s = specs[i];
    ref_field.path =
        base + "/" + (s.is_string() ? s.get<std::string>() : s["file"].get<std::string>());
    if (s.is_object() && s.contains("noise")) {
      const auto& n = s["noise"];
      ref_field.noise = NoiseSpec{base + "/" + n["file"].get<std::string>(),
                                  n["offset_s"].get<double>(), n["snr_db"].get<double>()};
    }
    torch::Tensor ours = pipeline->extract(Field(ref_field));
    ASSERT_EQ(ours.sizes(), (std::vector<int64_t>{1, 112, 112}));
    auto peer = torch::from_blob(ref.data() + i * 112 * 112, {1, 112, 112}, torch::kFloat);
    EXPECT_LE((ours - peer).abs().max().item<float>(), 1e-4) << s.dump();
    EXPECT_NEAR(peer.max().item<float>(), 1.0f, 1e-6);
  }
}

}  // namespace
}  // namespace mmfuse::data::audio
