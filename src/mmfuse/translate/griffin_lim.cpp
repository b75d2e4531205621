#include "mmfuse/translate/griffin_lim.h"

#include <sndfile.h>

#include <cstdio>
#include <filesystem>

#include <unistd.h>

#include "mmfuse/core/error.h"

namespace mmfuse::translate {

namespace F = torch::nn::functional;

torch::Tensor features_to_magnitude(const torch::Tensor& features, const GriffinLimOptions& o) {
  torch::Tensor f = features.detach().to(torch::kCPU, torch::kFloat);
  if (f.dim() == 3) f = f[0];
  if (f.dim() != 2) throw Error("features_to_magnitude: expected [1, F, T] or [F, T] features");
  const int64_t bins = o.n_fft / 2 + 1;
  const int64_t frames = o.samples / o.hop + 1;  // center=true
  auto s = f.flip(0).clamp(0, 1) * o.log_range;  // log1p(100 |S|), high frequencies last
  s = F::interpolate(s.unsqueeze(0).unsqueeze(0), F::InterpolateFuncOptions()
                                                      .size(std::vector<int64_t>{bins, frames})
                                                      .mode(torch::kBilinear)
                                                      .align_corners(false))[0][0];
  return torch::expm1(s) / 100.0;  // [bins, frames]
}

torch::Tensor griffin_lim(const torch::Tensor& magnitude, const GriffinLimOptions& o) {
  auto window = torch::hann_window(o.n_fft);
  auto gen = at::detail::createCPUGenerator(o.seed);
  auto angle = torch::rand(magnitude.sizes(), gen) * (2 * M_PI);
  torch::Tensor x;
  for (int64_t i = 0; i <= o.iterations; ++i) {
    auto spec = torch::polar(magnitude, angle);
    x = torch::istft(spec, o.n_fft, o.hop, o.n_fft, window, /*center=*/true,
                     /*normalized=*/false, /*onesided=*/true, o.samples);
    if (i == o.iterations) break;
    auto again = torch::stft(x, o.n_fft, o.hop, o.n_fft, window, /*center=*/true,
                             /*pad_mode=*/"reflect", /*normalized=*/false, /*onesided=*/true,
                             /*return_complex=*/true);
    angle = torch::angle(again);
  }
  const double peak = x.abs().max().item<double>();
  return peak > 0 ? x * (0.9 / peak) : x;
}

void write_wav(const std::string& path, const torch::Tensor& waveform, int sample_rate) {
  const auto w = waveform.detach().to(torch::kCPU, torch::kFloat).contiguous();
  const auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  SF_INFO info{};
  info.samplerate = sample_rate;
  info.channels = 1;
  info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
  SNDFILE* f = sf_open(tmp.c_str(), SFM_WRITE, &info);
  if (!f) throw Error(path + ": cannot write WAV (" + sf_strerror(nullptr) + ")");
  const sf_count_t n = w.numel();
  const sf_count_t wrote = sf_write_float(f, w.data_ptr<float>(), n);
  sf_close(f);
  if (wrote != n) {
    std::remove(tmp.c_str());
    throw Error(path + ": short write (" + std::to_string(wrote) + " of " + std::to_string(n) +
                " samples)");
  }
  std::filesystem::rename(tmp, path);
}

}  // namespace mmfuse::translate
