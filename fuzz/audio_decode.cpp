// Audio files (WAV/FLAC/OGG through libsndfile) with the duration/size caps, then the paths every
// decoded waveform takes: resampling, noise mixing, and the AV-MNIST spectrogram.
#include <cstdint>
#include <string>

#include "mmfuse/core/error.h"
#include "mmfuse/data/audio/audio_io.h"
#include "mmfuse/data/audio/features.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mmfuse::data::audio;
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    Waveform w = decode_audio(bytes, "fuzz.wav", AudioLimits{5.0, 1 << 20});
    std::vector<float> x = resample(w.samples, w.sample_rate, 8000, ResampleQuality::linear);
    if (x.size() > 16000) x.resize(16000);
    if (!x.empty()) {
      std::vector<float> noise = x;
      mix_noise(x, noise, 0.25, 3.0, 8000);
      (void)avmnist_spectrogram(x.data(), static_cast<int64_t>(x.size()), 16);
    }
  } catch (const mmfuse::Error&) {
  }
  return 0;
}
