// Audio features with torch ops: STFT spectrograms, mel filterbanks (HTK and Slaney), log-mel,
// MFCC, and the AV-MNIST fixed-size spectrogram. Waveforms are 1-D float tensors [N].
#pragma once

#include <cstdint>
#include <string>

#include <torch/torch.h>

namespace mmfuse::data::audio {

/// Short-time Fourier transform settings (periodic Hann window of `win` samples, zero-padded to
/// `n_fft` and centred, as torch.stft / librosa.stft).
struct StftOptions {
  int64_t n_fft = 400;  ///< FFT size in samples; gives n_fft / 2 + 1 frequency bins
  int64_t hop = 160;    ///< hop between frames in samples
  int64_t win = 400;    ///< window length in samples (<= n_fft)
  bool center = true;   ///< reflect-pad n_fft / 2 on both sides so frame t is centred at t * hop
};

/// Frames an STFT gives for `n` samples: 1 + n / hop when centred, else 1 + (n - n_fft) / hop.
int64_t stft_frames(int64_t n, const StftOptions& o);

/// |STFT|^power: [N] -> [n_fft / 2 + 1, T]. Requires: N > n_fft / 2 when centred (reflect pad),
/// N >= n_fft otherwise; shorter input is zero-padded to that length.
torch::Tensor stft_magnitude(const torch::Tensor& wave, const StftOptions& o, double power = 1.0);

/// Log-magnitude spectrogram log(|STFT| + eps): [N] -> [n_fft / 2 + 1, T].
torch::Tensor log_spectrogram(const torch::Tensor& wave, const StftOptions& o, double eps = 1e-6);

enum class MelScale { htk, slaney };
enum class MelNorm { none, slaney };

/// Hz -> mel. HTK: 2595 log10(1 + f / 700). Slaney: linear below 1 kHz (f / (200/3)), then
/// logarithmic with step log(6.4) / 27 (as librosa.hz_to_mel / torchaudio).
double hz_to_mel(double hz, MelScale scale);
double mel_to_hz(double mel, MelScale scale);

struct MelOptions {
  int64_t n_mels = 64;
  double fmin = 0.0;   ///< Hz
  double fmax = -1.0;  ///< Hz; <= 0 means sample_rate / 2
  MelScale scale = MelScale::htk;
  MelNorm norm = MelNorm::none;  ///< slaney: each filter scaled by 2 / (its bandwidth in Hz)
};

/// Triangular mel filters over the bins (at k * sample_rate / n_fft Hz) of an n_fft-point FFT, as
/// librosa.filters.mel and, for even n_fft and rates, the transpose of torchaudio's
/// melscale_fbanks: [n_mels, n_fft / 2 + 1].
torch::Tensor mel_filterbank(int64_t n_fft, double sample_rate, const MelOptions& o);

enum class LogKind { natural, db };

/// log(mel power + eps) (natural) or 10 log10(max(mel power, eps)) (db).
/// power spectrogram [F, T] and filterbank [n_mels, F] -> [n_mels, T].
torch::Tensor log_mel(const torch::Tensor& power_spec, const torch::Tensor& filterbank,
                      LogKind kind, double eps);

/// Orthonormal DCT-II basis as torchaudio.functional.create_dct(n_mfcc, n_mels, "ortho"):
/// [n_mels, n_mfcc] (equal to scipy.fft.dct(type=2, norm="ortho"), librosa's MFCC).
torch::Tensor dct_ortho(int64_t n_mfcc, int64_t n_mels);

/// MFCC from a log-mel spectrogram: [n_mels, T] x dct [n_mels, n_mfcc] -> [n_mfcc, T].
torch::Tensor mfcc(const torch::Tensor& log_mel_spec, const torch::Tensor& dct);

/// The AV-MNIST audio input, exactly as the peer's `audio_features`: zero-pad to 2 * size
/// samples, |STFT| over the whole clip with n_fft = 2 * (size - 1), hop = max(1, (N - n_fft) /
/// (size - 1)), Hann window, centred; log1p(100 |S|); bilinear resize (align_corners = false)
/// to size x size; low frequencies at the bottom (flipped); min-max scaled to [0, 1].
/// [N] samples -> [1, size, size].
torch::Tensor avmnist_spectrogram(const float* samples, int64_t n, int64_t size = 112);

}  // namespace mmfuse::data::audio
