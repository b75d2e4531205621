#include "mmfuse/data/audio/features.h"

#include <cmath>
#include <limits>
#include <vector>

#include "mmfuse/core/error.h"
#include "mmfuse/data/audio/frame_spectrum.h"

namespace mmfuse::data::audio {

namespace {

namespace F = torch::nn::functional;

// Slaney's mel scale (librosa / torchaudio constants).
constexpr double kSlaneyHzPerMel = 200.0 / 3.0;
constexpr double kSlaneyMinLogHz = 1000.0;
constexpr double kSlaneyMinLogMel = kSlaneyMinLogHz / kSlaneyHzPerMel;  // 15
const double kSlaneyLogStep = std::log(6.4) / 27.0;

void check_stft(const StftOptions& o) {
  if (o.n_fft < 2 || o.hop < 1 || o.win < 1 || o.win > o.n_fft) {
    throw Error("STFT settings: expected n_fft >= 2, hop >= 1 and 1 <= win <= n_fft, got n_fft " +
                std::to_string(o.n_fft) + ", hop " + std::to_string(o.hop) + ", win " +
                std::to_string(o.win));
  }
}

// Shortest input the STFT accepts: reflect padding needs more than n_fft / 2 samples.
int64_t min_stft_length(const StftOptions& o) {
  return o.center ? o.n_fft / 2 + 1 : o.n_fft;
}

// Complex STFT [F, T] of a 1-D waveform, zero-padded to the shortest valid length.
torch::Tensor complex_stft(const torch::Tensor& wave, const StftOptions& o) {
  check_stft(o);
  torch::Tensor x = wave.reshape({-1}).to(torch::kFloat);
  const int64_t need = min_stft_length(o);
  if (x.size(0) < need) x = F::pad(x, F::PadFuncOptions({0, need - x.size(0)}));
  return torch::stft(x, o.n_fft, o.hop, o.win, torch::hann_window(o.win), o.center, "reflect",
                     /*normalized=*/false, /*onesided=*/true, /*return_complex=*/true);
}

}  // namespace

int64_t stft_frames(int64_t n, const StftOptions& o) {
  check_stft(o);
  n = std::max(n, min_stft_length(o));
  return o.center ? 1 + n / o.hop : 1 + (n - o.n_fft) / o.hop;
}

torch::Tensor stft_magnitude(const torch::Tensor& wave, const StftOptions& o, double power) {
  torch::Tensor s = complex_stft(wave, o);
  if (power == 2.0) return torch::view_as_real(s).pow(2).sum(-1);
  torch::Tensor mag = s.abs();
  return power == 1.0 ? mag : mag.pow(power);
}

torch::Tensor log_spectrogram(const torch::Tensor& wave, const StftOptions& o, double eps) {
  return (stft_magnitude(wave, o, 1.0) + eps).log_();
}

double hz_to_mel(double hz, MelScale scale) {
  if (scale == MelScale::htk) return 2595.0 * std::log10(1.0 + hz / 700.0);
  if (hz < kSlaneyMinLogHz) return hz / kSlaneyHzPerMel;
  return kSlaneyMinLogMel + std::log(hz / kSlaneyMinLogHz) / kSlaneyLogStep;
}

double mel_to_hz(double mel, MelScale scale) {
  if (scale == MelScale::htk) return 700.0 * (std::pow(10.0, mel / 2595.0) - 1.0);
  if (mel < kSlaneyMinLogMel) return mel * kSlaneyHzPerMel;
  return kSlaneyMinLogHz * std::exp(kSlaneyLogStep * (mel - kSlaneyMinLogMel));
}

torch::Tensor mel_filterbank(int64_t n_fft, double sample_rate, const MelOptions& o) {
  const double fmax = o.fmax > 0 ? o.fmax : sample_rate / 2;
  if (o.n_mels < 1 || n_fft < 2 || sample_rate <= 0 || o.fmin < 0 || o.fmin >= fmax) {
    throw Error(
        "mel filterbank: expected n_mels >= 1, n_fft >= 2, sample_rate > 0 and "
        "0 <= fmin < fmax, got n_mels " +
        std::to_string(o.n_mels) + ", n_fft " + std::to_string(n_fft) + ", sample_rate " +
        std::to_string(sample_rate) + ", fmin " + std::to_string(o.fmin) + ", fmax " +
        std::to_string(fmax));
  }
  const int64_t n_freqs = n_fft / 2 + 1;
  // Band edges: n_mels + 2 points equally spaced in mel between fmin and fmax.
  const double mel_lo = hz_to_mel(o.fmin, o.scale), mel_hi = hz_to_mel(fmax, o.scale);
  std::vector<double> edges(static_cast<std::size_t>(o.n_mels + 2));
  for (std::size_t i = 0; i < edges.size(); ++i) {
    edges[i] = mel_to_hz(mel_lo + (mel_hi - mel_lo) * i / (edges.size() - 1), o.scale);
  }
  auto fb = torch::zeros({o.n_mels, n_freqs}, torch::kFloat);
  auto acc = fb.accessor<float, 2>();
  for (int64_t m = 0; m < o.n_mels; ++m) {
    const double lo = edges[m], mid = edges[m + 1], hi = edges[m + 2];
    const double scale = o.norm == MelNorm::slaney ? 2.0 / (hi - lo) : 1.0;
    for (int64_t k = 0; k < n_freqs; ++k) {
      const double f = sample_rate * k / n_fft;  // bin centre, as numpy.fft.rfftfreq
      const double rising = (f - lo) / (mid - lo), falling = (hi - f) / (hi - mid);
      acc[m][k] = static_cast<float>(std::max(0.0, std::min(rising, falling)) * scale);
    }
  }
  return fb;
}

torch::Tensor log_mel(const torch::Tensor& power_spec, const torch::Tensor& filterbank,
                      LogKind kind, double eps) {
  torch::Tensor mel = filterbank.matmul(power_spec);  // [M, F] x [F, T] -> [M, T]
  if (kind == LogKind::natural) return mel.add_(eps).log_();
  return mel.clamp_min_(eps).log10_().mul_(10.0);
}

torch::Tensor dct_ortho(int64_t n_mfcc, int64_t n_mels) {
  if (n_mfcc < 1 || n_mfcc > n_mels) {
    throw Error("DCT: expected 1 <= n_mfcc <= n_mels, got n_mfcc " + std::to_string(n_mfcc) +
                ", n_mels " + std::to_string(n_mels));
  }
  auto dct = torch::empty({n_mels, n_mfcc}, torch::kFloat);
  auto acc = dct.accessor<float, 2>();
  for (int64_t n = 0; n < n_mels; ++n) {
    for (int64_t k = 0; k < n_mfcc; ++k) {
      double v = std::cos(M_PI / n_mels * (n + 0.5) * k) * std::sqrt(2.0 / n_mels);
      if (k == 0) v /= std::sqrt(2.0);
      acc[n][k] = static_cast<float>(v);
    }
  }
  return dct;
}

torch::Tensor mfcc(const torch::Tensor& log_mel_spec, const torch::Tensor& dct) {
  return dct.t().matmul(log_mel_spec);  // [K, M] x [M, T] -> [K, T]
}

torch::Tensor avmnist_spectrogram(const float* samples, int64_t n, int64_t size) {
  if (size < 2)
    throw Error("AV-MNIST spectrogram: expected size >= 2, got " + std::to_string(size));
  const int64_t len = std::max(n, 2 * size);  // zero-padded
  const int64_t n_fft = 2 * (size - 1), pad = n_fft / 2;
  const int64_t hop = len > n_fft ? std::max<int64_t>(1, (len - n_fft) / (size - 1)) : 1;
  const int64_t frames = 1 + len / hop;  // centred STFT
  // Reflect-pad by n_fft / 2 on both sides, as torch.stft(center=True).
  std::vector<float> x(static_cast<std::size_t>(len + 2 * pad), 0.0f);
  std::copy(samples, samples + n, x.begin() + pad);
  for (int64_t j = 1; j <= pad; ++j) {
    x[pad - j] = x[pad + j];
    x[pad + len - 1 + j] = x[pad + len - 1 - j];
  }
  torch::Tensor spec = torch::empty({size, frames}, torch::kFloat);  // [F = size, T]
  FrameSpectrum::get(n_fft)->power(x.data(), frames, hop, spec.data_ptr<float>(), frames);
  spec.sqrt_().mul_(100.0f).log1p_();  // log1p(100 |S|)

  // Bilinear resize to [size, size] as upsample_bilinear2d(align_corners=false): the frequency
  // axis keeps its size (identity), the time axis maps output j to source (j + 0.5) T / size - 0.5.
  std::vector<int64_t> x0(static_cast<std::size_t>(size)), x1(x0.size());
  std::vector<float> w0(x0.size()), w1(x0.size());
  const float scale = static_cast<float>(frames) / static_cast<float>(size);
  for (int64_t j = 0; j < size; ++j) {
    const float src = std::max(0.0f, scale * (static_cast<float>(j) + 0.5f) - 0.5f);
    x0[j] = std::min(static_cast<int64_t>(std::floor(src)), frames - 1);
    x1[j] = x0[j] + (x0[j] < frames - 1 ? 1 : 0);
    w1[j] = std::min(std::max(src - static_cast<float>(x0[j]), 0.0f), 1.0f);
    w0[j] = 1.0f - w1[j];
  }
  torch::Tensor out = torch::empty({1, size, size}, torch::kFloat);
  const float* s = spec.data_ptr<float>();
  float* o = out.data_ptr<float>();
  float lo = std::numeric_limits<float>::infinity(), hi = -lo;
  for (int64_t i = 0; i < size; ++i) {
    const float* row = s + (size - 1 - i) * frames;  // flipped: low frequencies at the bottom
    float* dst = o + i * size;
    for (int64_t j = 0; j < size; ++j) {
      dst[j] = w0[j] * row[x0[j]] + w1[j] * row[x1[j]];
      lo = std::min(lo, dst[j]);
      hi = std::max(hi, dst[j]);
    }
  }
  const float range = (hi - lo) + 1e-8f;  // min-max to [0, 1]
  for (int64_t i = 0; i < size * size; ++i) o[i] = (o[i] - lo) / range;
  return out;
}

}  // namespace mmfuse::data::audio
