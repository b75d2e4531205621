// Power spectra of many equally spaced, Hann-windowed frames of one signal: a mixed-radix
// (Stockham) FFT that transforms 8 frames at once, one per SIMD lane. It exists for speed: for
// FFT sizes with a large prime factor, such as the AV-MNIST n_fft = 222 = 2 * 3 * 37, it is
// several times faster than torch::stft, whose per-frame transforms dominate feature extraction.
#pragma once

#include <cstdint>
#include <memory>

namespace mmfuse::data::audio {

class FrameSpectrum {
 public:
  /// Requires: n_fft even and >= 2. Window: periodic Hann of n_fft samples (torch::hann_window).
  explicit FrameSpectrum(int64_t n_fft);
  ~FrameSpectrum();

  /// A shared plan per size (built once, immutable, safe to use from many threads).
  static std::shared_ptr<const FrameSpectrum> get(int64_t n_fft);

  int64_t n_fft() const { return n_; }
  int64_t bins() const { return n_ / 2 + 1; }

  /// out[k * out_stride + t] = |sum_n w[n] x[t * hop + n] exp(-2 pi i k n / n_fft)|^2 for frames
  /// t < `frames` and bins k < bins(). Requires: x holds (frames - 1) * hop + n_fft samples.
  void power(const float* x, int64_t frames, int64_t hop, float* out, int64_t out_stride) const;

  struct Plan;  // radix passes, twiddles and window (opaque; frame_spectrum.cpp)

 private:
  std::shared_ptr<const Plan> plan_;
  int64_t n_ = 0;
};

}  // namespace mmfuse::data::audio
