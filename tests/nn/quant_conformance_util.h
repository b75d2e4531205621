// The int8 conformance check shared by the encoder, fusion and head suites: a block built with a
// seeded random init, calibrated on a few batches, then run with its layers in int8 (static and
// dynamic) and its other large parameters weight-only int8 gives outputs within kInt8Tolerance of
// its float32 outputs on a fixed batch, unless the block is in int8_stays_float() with the reason.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "mmfuse/nn/quant/quantize.h"
#include "nn/conformance_util.h"

namespace mmfuse::testing {

/// max |int8 - fp32| / max |fp32| over a block's outputs. Per-channel 8-bit weights and 7-bit
/// activations give about 1% per layer on random inits; a few layers deep stays below this.
inline constexpr double kInt8Tolerance = 0.08;

/// Blocks whose random-init int8 outputs are not within kInt8Tolerance, with the reason.
/// `mmfuse optimize` still offers their layers; its sensitivity pass keeps in float32 those that
/// cost a trained run accuracy.
inline const std::map<std::string, std::string>& int8_stays_float() {
  static const std::map<std::string, std::string> table = {
      {"mobilenet_v2",
       "52 stacked conv + batch norm layers: at random init the per-layer rounding compounds to "
       "0.094 of the output range (measured 2026-12-04), over the 0.08 of shallower blocks"},
  };
  return table;
}

/// Relative output change of the block quantized in `mode` with its other large parameters
/// weight-only int8, as a saved run has them; -1 when nothing was quantized (no Linear / folded
/// Conv2d ran and no parameter is large enough).
inline double int8_relative_change(const Subject& s, nn::quant::QuantMode mode) {
  auto block = s.build(21);
  auto expected = s.eval(block, 6, 22);
  std::map<std::string, nn::quant::LayerObservation> obs;
  {
    nn::quant::Calibrator calibrator(*block);
    for (uint64_t i = 0; i < 4; ++i) s.eval(block, 8, 30 + i);
    obs = calibrator.observations();
  }
  // Every Linear reaches the hooks (one run through another product, e.g. a bmm over a
  // transposed token view, would silently stay float32). Convolutions outside the folded
  // conv + batch norm path stay float32 by design.
  for (const auto& l : nn::quant::quantizable_layers(*block)) {
    if (l.kind == "linear") {
      EXPECT_GT(obs[l.name].calls, 0) << l.name << " did not run on the calibration batches";
    }
  }
  nn::quant::QuantizeOptions o;
  o.mode = mode;
  auto q = nn::quant::quantize_module(*block, obs, o);
  // As a saved run loads it: the parameters stored weight-only int8 come back dequantized.
  (void)nn::quant::quantized_state(*block, *q);
  std::map<std::string, torch::Tensor> floats;
  {
    torch::NoGradGuard no_grad;
    auto params = block->named_parameters();
    for (const auto& name : q->weight_only) {
      auto& p = params[name];
      floats[name] = p.clone();
      p.copy_(nn::quant::dequantize_weight_only(nn::quant::quantize_weight_only(p)));
    }
  }
  auto got = s.eval(block, 6, 22);
  {
    torch::NoGradGuard no_grad;
    auto params = block->named_parameters();
    for (const auto& [name, value] : floats) params[name].copy_(value);
  }
  if (q->quantized.empty() && q->weight_only.empty()) {
    EXPECT_EQ(max_abs_diff(got, expected), 0.0) << "nothing quantized, yet the output changed";
    return -1;
  }
  double scale = 0;
  for (const auto& t : expected) {
    if (t.defined() && t.numel() > 0) scale = std::max(scale, t.abs().max().item<double>());
  }
  const double diff = max_abs_diff(got, expected);
  q.reset();
  EXPECT_EQ(max_abs_diff(s.eval(block, 6, 22), expected), 0.0) << "float again after release";
  return scale > 0 ? diff / scale : diff;
}

/// The conformance check: static and dynamic int8 outputs within kInt8Tolerance of float32
/// (the suites skip the blocks of int8_stays_float() first).
inline void check_int8_close_to_fp32(const Subject& s) {
  for (auto mode : {nn::quant::QuantMode::static_int8, nn::quant::QuantMode::dynamic_int8}) {
    SCOPED_TRACE("int8 " + nn::quant::to_string(mode));
    const double change = int8_relative_change(s, mode);
    EXPECT_LE(change, kInt8Tolerance) << "int8 outputs moved by " << change << " of their range";
  }
}

}  // namespace mmfuse::testing
