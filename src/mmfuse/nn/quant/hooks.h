// Where int8 layers enter a model's forward without changing its blocks: every torch::nn::Linear
// ends in aten::mm / aten::addmm with its weight transposed, and every Conv2d -> BatchNorm2d of
// the encoders runs through encoders::folded_conv_bn. Both look a layer up here by the address of
// its float weight: a layer registered for calibration records the range of its inputs, a
// quantized one computes the product in int8. Layers not registered run as before.
//
// The table is process-wide (LibTorch's dispatcher is): entries belong to a LayerHooks owner and
// are removed with it; the owner holds the tensors whose addresses key the table, so an address
// cannot be reused by another tensor while it is registered.
#pragma once

#include <limits>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <torch/torch.h>

#include "mmfuse/nn/dnnl_gemm.h"
#include "mmfuse/nn/quant/int8_kernels.h"

namespace mmfuse::nn::quant {

/// What calibration observed at one layer.
struct LayerObservation {
  float min = std::numeric_limits<float>::infinity();
  float max = -std::numeric_limits<float>::infinity();
  int64_t calls = 0;
  /// Conv2d only: the batch norm folded into it (from folded_conv_bn), else null.
  torch::nn::BatchNorm2dImpl* bn = nullptr;
  /// A sample of input values (up to a bound) for percentile ranges.
  std::vector<float> sample;
};

/// One hooked layer: its weight (the key) and either an observation or an int8 kernel.
struct HookedLayer {
  std::string name;
  torch::Tensor weight;  ///< the float weight whose address keys the table
  std::shared_ptr<LayerObservation> observe;
  std::shared_ptr<const Int8Linear> linear;
  std::shared_ptr<const Int8Conv2d> conv;
};

/// Registers layers while it lives (and holds the oneDNN matrix-product kernels that carry the
/// Linear hook). Move-only; thread-safe lookups.
class LayerHooks {
 public:
  LayerHooks();
  ~LayerHooks();
  LayerHooks(const LayerHooks&) = delete;
  LayerHooks& operator=(const LayerHooks&) = delete;

  /// Adds a layer. Throws Error when its weight is already registered (by any owner).
  void add(HookedLayer layer);
  const std::vector<HookedLayer>& layers() const { return layers_; }
  /// This owner's layer keyed by `weight` (the same storage), or null.
  const HookedLayer* find(const torch::Tensor& weight) const;

 private:
  std::vector<HookedLayer> layers_;
  std::shared_ptr<const DnnlGemm> gemm_;
};

/// The Conv2d -> BatchNorm2d hook (encoders::folded_conv_bn calls it first): the int8 result for a
/// quantized conv, an undefined tensor otherwise (after recording the input for calibration).
torch::Tensor conv_bn_hook(const torch::Tensor& input, torch::nn::Conv2dImpl& conv,
                           torch::nn::BatchNorm2dImpl& bn);

/// Largest number of input values a calibration observation keeps per layer.
constexpr std::size_t kObservationSample = 1 << 16;

}  // namespace mmfuse::nn::quant
