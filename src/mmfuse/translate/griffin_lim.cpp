#include "mmfuse/translate/griffin_lim.h"

#include <sndfile.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"

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

namespace {

/// libsndfile's virtual I/O over a std::string (a WAV written in memory).
struct WavBuffer {
  std::string bytes;
  sf_count_t pos = 0;
};

sf_count_t wav_buffer_length(void* user) {
  return static_cast<sf_count_t>(static_cast<WavBuffer*>(user)->bytes.size());
}

sf_count_t wav_buffer_seek(sf_count_t offset, int whence, void* user) {
  auto* b = static_cast<WavBuffer*>(user);
  const sf_count_t base = whence == SEEK_CUR   ? b->pos
                          : whence == SEEK_END ? static_cast<sf_count_t>(b->bytes.size())
                                               : 0;
  b->pos = std::max<sf_count_t>(0, base + offset);
  return b->pos;
}

sf_count_t wav_buffer_read(void* out, sf_count_t n, void* user) {
  auto* b = static_cast<WavBuffer*>(user);
  const sf_count_t size = static_cast<sf_count_t>(b->bytes.size());
  const sf_count_t take = std::max<sf_count_t>(0, std::min(n, size - b->pos));
  std::memcpy(out, b->bytes.data() + b->pos, static_cast<std::size_t>(take));
  b->pos += take;
  return take;
}

sf_count_t wav_buffer_write(const void* in, sf_count_t n, void* user) {
  auto* b = static_cast<WavBuffer*>(user);
  const auto end = static_cast<std::size_t>(b->pos + n);
  if (b->bytes.size() < end) b->bytes.resize(end);
  std::memcpy(&b->bytes[static_cast<std::size_t>(b->pos)], in, static_cast<std::size_t>(n));
  b->pos += n;
  return n;
}

sf_count_t wav_buffer_tell(void* user) {
  return static_cast<WavBuffer*>(user)->pos;
}

}  // namespace

std::string encode_wav(const torch::Tensor& waveform, int sample_rate) {
  const auto w = waveform.detach().to(torch::kCPU, torch::kFloat).contiguous();
  SF_VIRTUAL_IO io{wav_buffer_length, wav_buffer_seek, wav_buffer_read, wav_buffer_write,
                   wav_buffer_tell};
  WavBuffer buffer;
  SF_INFO info{};
  info.samplerate = sample_rate;
  info.channels = 1;
  info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
  SNDFILE* f = sf_open_virtual(&io, SFM_WRITE, &info, &buffer);
  if (!f) throw Error(std::string("cannot encode a WAV (") + sf_strerror(nullptr) + ")");
  const sf_count_t n = w.numel();
  const sf_count_t wrote = sf_write_float(f, w.data_ptr<float>(), n);
  sf_close(f);
  if (wrote != n) {
    throw Error("WAV encoding stopped after " + std::to_string(wrote) + " of " + std::to_string(n) +
                " samples");
  }
  return std::move(buffer.bytes);
}

void write_wav(const std::string& path, const torch::Tensor& waveform, int sample_rate) {
  write_file_atomic(path, encode_wav(waveform, sample_rate));
}

}  // namespace mmfuse::translate
