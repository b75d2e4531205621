#include "mmfuse/data/audio/yamnet_frontend.h"

#include <sstream>

#include "mmfuse/core/error.h"
#include "mmfuse/core/safetensors.h"

namespace mmfuse::data::audio {

torch::Tensor load_yamnet_mel_matrix(const std::string& path) {
  const auto tensors = load_safetensors(path).tensors;
  auto it = tensors.find("frontend.mel_matrix");
  if (it == tensors.end()) {
    throw Error(path +
                ": no tensor 'frontend.mel_matrix'; give the YAMNet safetensors file "
                "(e.g. ../shared/pretrained/yamnet_audioset.safetensors) as mel_matrix");
  }
  const torch::Tensor m = it->second;
  if (m.dim() != 2 || m.size(1) != YamnetFrontend::kFft / 2 + 1) {
    std::ostringstream shape;
    shape << m.sizes();
    throw Error(path + ": frontend.mel_matrix should be [bands, 257], got " + shape.str());
  }
  return m.to(torch::kFloat).contiguous();
}

torch::Tensor yamnet_log_mel(const torch::Tensor& waveform, const torch::Tensor& mel_matrix) {
  using F = YamnetFrontend;
  torch::Tensor x = waveform.reshape({-1}).to(torch::kFloat);
  if (x.size(0) < F::kMinSamples) {
    x = torch::constant_pad_nd(x, {0, F::kMinSamples - x.size(0)});
  }
  const torch::Tensor window = torch::hann_window(F::kFrame, /*periodic=*/true);
  const torch::Tensor frames = x.unfold(0, F::kFrame, F::kHop) * window;   // [T, 400]
  const torch::Tensor magnitude = torch::fft_rfft(frames, F::kFft).abs();  // [T, 257]
  return torch::log(torch::matmul(magnitude, mel_matrix.t()) + F::kLogOffset);
}

}  // namespace mmfuse::data::audio
