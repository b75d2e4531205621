// int8 layers on oneDNN's int8 primitives (AVX2 u8/s8 x s8 -> s32 kernels here): per-channel
// symmetric int8 weights, per-tensor symmetric activations (u8 when the input is never negative,
// e.g. after a ReLU, else s8), float32 results. Activations come either from a calibrated range
// (static) or from the input's own range on every call (dynamic).
//
// Dequantization: y[m, n] = in_scale * w_scale[n] * sum_k q_in[m, k] * q_w[n, k] + bias[n].
// Zero points are always 0 (symmetric); the format records them for readers that expect one.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include <torch/torch.h>

namespace mmfuse::nn::quant {

/// Largest activation codes. 7 bits, not 8: without VNNI, oneDNN's AVX2 int8 kernels multiply
/// with vpmaddubsw, which saturates a pair u8 * s8 + u8 * s8 at 32767 (255 * 127 * 2 would
/// overflow it); FBGEMM's `reduce_range` does the same for the same reason. s8 inputs run
/// shifted to u8 (+128) inside oneDNN, hence 6 bits for them (measured: 7 bits overflow).
inline constexpr float kUnsignedMax = 127.0F;
inline constexpr float kSignedMax = 63.0F;
/// Int8Linear runs s8 codes as u8 codes + this shift (then at most 126: within 7 bits).
inline constexpr int64_t kSignedShift = 64;

/// Per-tensor activation quantization: q = clamp(round(x / scale), qmin, qmax) with qmin/qmax
/// 0/kUnsignedMax (is_unsigned) or -kSignedMax/kSignedMax.
struct ActivationQuant {
  float scale = 1.0F;
  bool is_unsigned = true;
};

/// The activation parameters covering [min, max] (symmetric; u8 when min >= 0).
ActivationQuant activation_quant(float min, float max);

/// x[0..n) (float32) -> out (uint8 when q.is_unsigned, else int8) = clamp(round(x / q.scale)),
/// rounding half to even.
void quantize_activations(const float* x, int64_t n, const ActivationQuant& q, void* out);

/// weight [out, ...] float -> values int8 [out, ...] and scale float [out] with
/// weight ~= values * scale (per output channel, symmetric, |values| <= 127).
struct ChannelQuantized {
  torch::Tensor values;
  torch::Tensor scale;
};
ChannelQuantized quantize_per_channel(const torch::Tensor& weight);

/// weight float -> values int8 (same shape) and scale float with the reduced axes kept as size 1
/// (so values * scale broadcasts back): one symmetric scale per slice over the axes `reduce`,
/// the largest magnitude of each slice at 127 (an all-zero slice keeps scale 1).
ChannelQuantized quantize_symmetric(const torch::Tensor& weight,
                                    const std::vector<int64_t>& reduce);

/// values int8 [out, ...] * scale [out] -> float weight.
torch::Tensor dequantize_per_channel(const torch::Tensor& values, const torch::Tensor& scale);

/// An int8 Linear: x [M, K] -> [M, N].
class Int8Linear {
 public:
  /// weight int8 [N, K], scale [N]; input: the calibrated parameters (static) or std::nullopt
  /// (dynamic: from each input's range).
  Int8Linear(torch::Tensor weight_int8, torch::Tensor weight_scale,
             std::optional<ActivationQuant> input);
  /// x [M, K] float32 (any strides) -> [M, N] float32, plus `bias` [N] when defined (the call's
  /// own: a Linear's product reaches the kernel with or without its bias).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& bias) const;

  const torch::Tensor& weight_int8() const { return weight_; }
  const torch::Tensor& weight_scale() const { return scale_; }
  const std::optional<ActivationQuant>& input() const { return input_; }

 private:
  torch::Tensor weight_, scale_;
  torch::Tensor weight_sum_;  ///< [N]: sum_k weight_int8[n, k] (the signed inputs' shift)
  std::optional<ActivationQuant> input_;
};

/// Geometry of a 2-D convolution.
struct ConvGeometry {
  std::vector<int64_t> stride{1, 1}, padding{0, 0}, dilation{1, 1};
  int64_t groups = 1;
};

/// An int8 Conv2d (batch norm folded in by the caller): x [B, C, H, W] -> [B, O, H', W'] float32
/// (channels-last strides).
class Int8Conv2d {
 public:
  /// weight int8 [O, C/groups, kh, kw], scale [O], bias [O] (float), input: calibrated (static).
  Int8Conv2d(torch::Tensor weight_int8, torch::Tensor weight_scale, torch::Tensor bias,
             ActivationQuant input, ConvGeometry geometry);
  torch::Tensor forward(const torch::Tensor& x) const;

  const torch::Tensor& weight_int8() const { return weight_; }
  const torch::Tensor& weight_scale() const { return scale_; }
  const torch::Tensor& bias() const { return bias_; }
  const ActivationQuant& input() const { return input_; }
  const ConvGeometry& geometry() const { return geometry_; }

 private:
  struct Cache;
  torch::Tensor weight_, scale_, bias_;
  ActivationQuant input_;
  ConvGeometry geometry_;
  std::shared_ptr<Cache> cache_;  ///< primitives and reordered weights by input shape
};

}  // namespace mmfuse::nn::quant
