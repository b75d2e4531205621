// int8 layers (nn/quant): per-channel weight quantization, the oneDNN int8 Linear and Conv2d
// against integer arithmetic done by hand, the hooks that put them into a model's forward, and a
// quantized model's save -> load round trip.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>

#include "mmfuse/core/safetensors.h"
#include "mmfuse/nn/encoders/lenet.h"
#include "mmfuse/nn/quant/quantize.h"
#include "nn/conformance_util.h"

namespace mmfuse::nn::quant {
namespace {

using mmfuse::testing::max_abs_diff;

// The exact dequantized result of an int8 product, in double: what the kernel must give up to
// float rounding.
torch::Tensor int8_linear_reference(const torch::Tensor& x, const ActivationQuant& q,
                                    const ChannelQuantized& w, const torch::Tensor& bias) {
  double lo = q.is_unsigned ? 0.0 : -kSignedMax, hi = q.is_unsigned ? kUnsignedMax : kSignedMax;
  auto qx = torch::round(x.to(torch::kDouble) / q.scale).clamp(lo, hi);
  auto acc = qx.matmul(w.values.to(torch::kDouble).t());
  auto y = acc * (w.scale.to(torch::kDouble) * q.scale).unsqueeze(0);
  if (bias.defined()) y = y + bias.to(torch::kDouble);
  return y.to(torch::kFloat);
}

TEST(QuantInt8, PerChannelWeightsRoundTripWithinHalfAStep) {
  torch::manual_seed(1);
  auto w = torch::randn({5, 7}) * torch::tensor({0.01, 0.1, 1.0, 10.0, 0.0}).unsqueeze(1);
  auto q = quantize_per_channel(w);
  ASSERT_EQ(q.values.scalar_type(), torch::kChar);
  // Each row's largest magnitude maps to 127 (the zero row keeps scale 1 and zeros).
  EXPECT_EQ(q.values.slice(0, 0, 4).abs().amax(1).to(torch::kInt).sum().item<int>(), 4 * 127);
  EXPECT_EQ(q.values[4].abs().sum().item<int>(), 0);
  auto err = (dequantize_per_channel(q.values, q.scale) - w).abs();
  EXPECT_TRUE((err <= q.scale.unsqueeze(1) * 0.5 + 1e-7).all().item<bool>());
}

TEST(QuantInt8, ActivationRangeIsSymmetricAndUnsignedWhenNeverNegative) {
  auto u = activation_quant(0.0F, 1.27F);
  EXPECT_TRUE(u.is_unsigned);
  EXPECT_NEAR(u.scale, 0.01F, 1e-7);
  auto s = activation_quant(-1.26F, 1.0F);
  EXPECT_FALSE(s.is_unsigned);
  EXPECT_NEAR(s.scale, 0.02F, 1e-7);
}

TEST(QuantInt8, LinearEqualsIntegerArithmetic) {
  torch::manual_seed(2);
  auto w = quantize_per_channel(torch::randn({9, 33}));
  auto bias = torch::randn({9});
  for (bool signed_input : {false, true}) {
    SCOPED_TRACE(signed_input ? "s8 input" : "u8 input");
    auto x = signed_input ? torch::randn({6, 33}) : torch::rand({6, 33}) * 3;
    auto q = activation_quant(x.min().item<float>(), x.max().item<float>());
    Int8Linear layer(w.values, w.scale, q);
    auto ref = int8_linear_reference(x, q, w, bias);
    EXPECT_LE(max_abs_diff(layer.forward(x, bias), ref), 1e-4 * ref.abs().max().item<double>());
    EXPECT_LE(max_abs_diff(layer.forward(x, {}), int8_linear_reference(x, q, w, {})),
              1e-4 * ref.abs().max().item<double>());
    // Dynamic: the range comes from the input itself, so the same numbers.
    Int8Linear dynamic(w.values, w.scale, std::nullopt);
    EXPECT_LE(max_abs_diff(dynamic.forward(x, bias), ref), 1e-4 * ref.abs().max().item<double>());
  }
}

TEST(QuantInt8, ConvEqualsFloatConvOfTheDequantizedOperands) {
  torch::manual_seed(3);
  auto x = torch::rand({2, 3, 9, 8});
  auto w = quantize_per_channel(torch::randn({4, 3, 3, 3}));
  auto bias = torch::randn({4});
  auto q = activation_quant(0.0F, x.max().item<float>());
  ConvGeometry g;
  g.padding = {1, 1};
  g.stride = {2, 1};
  Int8Conv2d conv(w.values, w.scale, bias, q, g);
  auto qx = torch::round(x / q.scale).clamp(0, kUnsignedMax) * q.scale;
  auto ref = torch::conv2d(qx.to(torch::kDouble),
                           dequantize_per_channel(w.values, w.scale).to(torch::kDouble),
                           bias.to(torch::kDouble), {2, 1}, {1, 1})
                 .to(torch::kFloat);
  auto got = conv.forward(x);
  ASSERT_EQ(got.sizes(), ref.sizes());
  EXPECT_LE(max_abs_diff(got, ref), 1e-4 * ref.abs().max().item<double>());
}

// A LeNet encoder and a Linear head: every layer kind the quantizer handles.
struct TinyNetImpl : torch::nn::Module {
  TinyNetImpl() {
    lenet = register_module(
        "lenet", encoders::LeNet(encoders::LeNetOptions(1, {16, 16}).channels(4).extra_blocks(1)));
    head = register_module("head", torch::nn::Linear(lenet->out_dim(), 3));
  }
  torch::Tensor forward(const torch::Tensor& x) {
    return head->forward(lenet->encode({x, torch::ones({x.size(0)}, torch::kBool), {}}).pooled);
  }
  encoders::LeNet lenet{nullptr};
  torch::nn::Linear head{nullptr};
};
TORCH_MODULE(TinyNet);

TinyNet trained_like_tiny_net(uint64_t seed) {
  torch::manual_seed(seed);
  TinyNet net;
  net->train();
  torch::NoGradGuard no_grad;
  for (int i = 0; i < 3; ++i) net->forward(torch::rand({8, 1, 16, 16}));  // BN statistics
  net->eval();
  return net;
}

TEST(QuantInt8, HooksRunTheModelInInt8OnlyWhileTheyLive) {
  auto net = trained_like_tiny_net(4);
  torch::NoGradGuard no_grad;
  torch::manual_seed(5);
  auto x = torch::rand({5, 1, 16, 16});
  auto fp32 = net->forward(x);
  std::map<std::string, LayerObservation> obs;
  {
    Calibrator calibrator(*net);
    for (int i = 0; i < 4; ++i) net->forward(torch::rand({8, 1, 16, 16}));
    obs = calibrator.observations();
  }
  ASSERT_EQ(obs.size(), 3U);  // two convs, one Linear
  EXPECT_NE(obs.at("lenet.net.0").bn, nullptr);
  EXPECT_GE(obs.at("lenet.net.0").min, 0.0F);           // the image
  EXPECT_EQ(max_abs_diff(net->forward(x), fp32), 0.0);  // calibration changes nothing
  {
    QuantizeOptions o;
    auto q = quantize_module(*net, obs, o);
    EXPECT_EQ(q->quantized.size(), 3U);
    EXPECT_EQ(q->folded_bn.at("lenet.net.4"), "lenet.net.5");
    auto int8 = net->forward(x);
    const double diff = max_abs_diff(int8, fp32);
    EXPECT_GT(diff, 0.0);                                     // it ran in int8
    EXPECT_LT(diff, 0.05 * fp32.abs().max().item<double>());  // and stayed close
    EXPECT_THROW(quantize_module(*net, obs, o), Error);       // one owner per layer
  }
  EXPECT_EQ(max_abs_diff(net->forward(x), fp32), 0.0);  // float again

  QuantizeOptions dynamic;
  dynamic.mode = QuantMode::dynamic_int8;
  dynamic.float_layers = {"head"};
  auto q = quantize_module(*net, {}, dynamic);
  EXPECT_TRUE(q->quantized.empty());  // convs need calibration, the head was kept float
  EXPECT_EQ(q->float_layers.at("head"), "kept in float32 as asked");
  EXPECT_EQ(q->float_layers.at("lenet.net.0"), "dynamic mode quantizes Linear layers only");
}

TEST(QuantInt8, SaveLoadGivesIdenticalOutputsAndInspectableTensors) {
  auto net = trained_like_tiny_net(6);
  torch::NoGradGuard no_grad;
  std::map<std::string, LayerObservation> obs;
  {
    Calibrator calibrator(*net);
    for (int i = 0; i < 2; ++i) net->forward(torch::rand({8, 1, 16, 16}));
    obs = calibrator.observations();
  }
  auto q = quantize_module(*net, obs, {});
  torch::manual_seed(7);
  auto x = torch::rand({4, 1, 16, 16});
  auto expected = net->forward(x);
  const auto path = (std::filesystem::temp_directory_path() /
                     ("mmfuse_quant_" + std::to_string(::getpid()) + ".safetensors"))
                        .string();
  save_quantized(path, *net, *q);
  auto file = load_safetensors(path);
  EXPECT_EQ(file.tensors.count("head.weight"), 0U);  // int8 only
  EXPECT_EQ(file.tensors.at("head.weight_int8").scalar_type(), torch::kChar);
  EXPECT_EQ(file.tensors.at("lenet.net.0.weight_scale").numel(), 4);
  EXPECT_EQ(file.tensors.at("lenet.net.0.input_unsigned").item<int>(), 1);
  EXPECT_EQ(file.tensors.at("head.input_zero_point").item<int>(), 0);
  EXPECT_EQ(file.tensors.count("lenet.net.1.running_var"), 0U);  // folded into lenet.net.0

  auto fresh = trained_like_tiny_net(99);  // other weights until loaded
  EXPECT_GT(max_abs_diff(fresh->forward(x), expected), 1e-3);
  auto loaded = load_quantized_module(*fresh, path);
  EXPECT_EQ(loaded->quantized.size(), 3U);
  EXPECT_EQ(max_abs_diff(fresh->forward(x), expected), 0.0);
  std::remove(path.c_str());

  // A float file is refused with a message naming it.
  const auto float_path = path + ".f32";
  save_module(*fresh, float_path);
  auto other = trained_like_tiny_net(8);
  try {
    load_quantized_module(*other, float_path);
    ADD_FAILURE() << "a float file loaded as quantized";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(float_path), std::string::npos) << e.what();
  }
  std::remove(float_path.c_str());
}

TEST(QuantInt8, WeightOnlyInt8KeepsEachRowAndLastColumnWithinHalfAStep) {
  torch::manual_seed(3);
  for (const auto& shape : {std::vector<int64_t>{5, 7}, std::vector<int64_t>{3, 4, 6}}) {
    auto w = torch::randn(shape);
    w[1] = w[1] * 100;  // rows of different ranges get their own scales
    auto q = quantize_weight_only(w);
    ASSERT_EQ(q.values.scalar_type(), torch::kChar);
    ASSERT_EQ(q.values.sizes(), w.sizes());
    // [d0, 1] for a matrix, [d0, 1, d_last] beyond: each slice's largest magnitude maps to 127.
    const std::vector<int64_t> want =
        shape.size() == 2 ? std::vector<int64_t>{5, 1} : std::vector<int64_t>{3, 1, 6};
    EXPECT_EQ(q.scale.sizes(), want);
    std::vector<int64_t> reduce{1};
    EXPECT_TRUE((q.values.abs().amax(reduce, true) == 127).all().item<bool>());
    auto err = (dequantize_weight_only(q) - w).abs();
    EXPECT_TRUE((err <= q.scale * 0.5 + 1e-6).all().item<bool>());
  }
}

// A Linear (an int8 layer) beside a parameter no Linear or Conv2d owns (a low-rank factor's kind).
struct FactorNetImpl : torch::nn::Module {
  FactorNetImpl() {
    factor = register_parameter("factor", torch::randn({32, 48}));
    lin = register_module("lin", torch::nn::Linear(48, 8));
  }
  torch::Tensor forward(const torch::Tensor& x) { return lin->forward(torch::relu(x.mm(factor))); }
  torch::Tensor factor;
  torch::nn::Linear lin{nullptr};
};
TORCH_MODULE(FactorNet);

TEST(QuantInt8, OtherLargeParametersAreStoredWeightOnlyAndLoadDequantized) {
  torch::manual_seed(4);
  FactorNet net;
  torch::NoGradGuard no_grad;
  std::map<std::string, LayerObservation> obs;
  {
    Calibrator calibrator(*net);
    net->forward(torch::rand({8, 32}));
    obs = calibrator.observations();
  }
  auto q = quantize_module(*net, obs, {});
  const auto path = (std::filesystem::temp_directory_path() /
                     ("mmfuse_wo_" + std::to_string(::getpid()) + ".safetensors"))
                        .string();
  for (bool weight_only : {true, false}) {
    save_quantized(path, *net, *q, weight_only);
    auto file = load_safetensors(path);
    EXPECT_EQ(file.tensors.count("factor"), weight_only ? 0U : 1U);
    EXPECT_EQ(file.tensors.count("factor.int8"), weight_only ? 1U : 0U);
    EXPECT_EQ(file.tensors.count("lin.weight_int8"), 1U);  // the int8 layer as before
    EXPECT_EQ(q->weight_only,
              weight_only ? std::vector<std::string>{"factor"} : std::vector<std::string>{});
    torch::manual_seed(5);
    FactorNet fresh;
    auto loaded = load_quantized_module(*fresh, path);
    auto want =
        weight_only ? dequantize_weight_only(quantize_weight_only(net->factor)) : net->factor;
    EXPECT_TRUE(torch::equal(fresh->factor, want)) << "weight_only " << weight_only;
    EXPECT_EQ(loaded->weight_only, q->weight_only);
    EXPECT_EQ(loaded->quantized, std::vector<std::string>{"lin"});
  }
  std::remove(path.c_str());
}

}  // namespace
}  // namespace mmfuse::nn::quant
