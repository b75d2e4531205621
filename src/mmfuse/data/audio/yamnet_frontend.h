// YAMNet's front end (../shared/pretrained/README.md), exactly: a 16 kHz mono waveform, zero-padded
// to at least 15,600 samples (0.975 s), in frames of 400 samples (25 ms) with a hop of 160,
// each times a periodic Hann window; |rfft| with n_fft 512 (the frame zero-padded at the end,
// 257 bins); mel = |X| * mel_matrix^T with the checkpoint's own `frontend.mel_matrix` [64, 257];
// log(mel + 0.001). The encoder (nn/encoders/yamnet.h) cuts the frames into 0.96 s patches.
#pragma once

#include <cstdint>
#include <string>

#include <torch/torch.h>

namespace mmfuse::data::audio {

struct YamnetFrontend {
  static constexpr int64_t kSampleRate = 16000;
  static constexpr int64_t kMinSamples = 15600;
  static constexpr int64_t kFrame = 400;
  static constexpr int64_t kHop = 160;
  static constexpr int64_t kFft = 512;
  static constexpr double kLogOffset = 0.001;
};

/// The `frontend.mel_matrix` tensor [bands, 257] of a YAMNet safetensors file. Throws Error
/// naming the file when it lacks the tensor or has another shape.
torch::Tensor load_yamnet_mel_matrix(const std::string& path);

/// waveform [N] (16 kHz, in [-1, 1]) and mel_matrix [bands, 257] -> log-mel frames
/// [1 + (max(N, 15600) - 400) / 160, bands].
torch::Tensor yamnet_log_mel(const torch::Tensor& waveform, const torch::Tensor& mel_matrix);

}  // namespace mmfuse::data::audio
