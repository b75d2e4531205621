// The int8 LeNet plan (plan_lenet_int8.cpp) against the module path of the same quantized model
// (int8 layers hooked in, nn/quant/hooks.h): LeNets of odd shapes with signed and unsigned
// inputs, batches 1, 3 and 40, and whole AV-MNIST models through InferencePlan with an int8
// run's compilers. The plan keeps 8-bit codes between blocks where the module path goes back to
// float32; both round the same float values, so they agree to float32 rounding.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>

#include "mmfuse/nn/encoders/lenet.h"
#include "mmfuse/nn/quant/quantize.h"
#include "mmfuse/runtime/plan.h"
#include "runtime/plan_test_util.h"

namespace mmfuse::runtime {
namespace {

using nn::quant::Calibrator;
using nn::quant::LayerObservation;
using nn::quant::QuantizeOptions;
using nn::quant::QuantMode;

// Inputs as a pipeline gives them: images in [0, 1] (u8 codes) or normalized spectrograms that
// go negative (s8 codes).
torch::Tensor int8_test_input(const std::vector<int64_t>& shape, bool is_signed) {
  torch::Tensor x = torch::rand(shape);
  return is_signed ? x * 3 - 1 : x;
}

std::map<std::string, LayerObservation> calibrate_lenet(encoders::LeNet& lenet,
                                                        std::vector<int64_t> shape,
                                                        bool is_signed) {
  Calibrator calibrator(*lenet);
  torch::NoGradGuard no_grad;
  shape[0] = 16;
  for (int i = 0; i < 3; ++i) {
    data::ModalityBatch in;
    in.data = int8_test_input(shape, is_signed);
    in.present = torch::ones({16}, torch::kBool);
    (void)lenet->encode(in);
  }
  return calibrator.observations();
}

struct Int8LenetCase {
  int64_t in_channels, channels, extra_blocks, h, w;
  bool is_signed;
};

TEST(PlanLenetInt8, EqualsTheInt8ModulePathOnOddShapesAndBatches) {
  const std::vector<Int8LenetCase> cases = {{1, 6, 3, 28, 28, false},
                                            {1, 3, 5, 112, 112, true},
                                            {3, 5, 1, 13, 17, true},
                                            {2, 7, 0, 9, 11, false},
                                            {1, 4, 2, 23, 19, true}};
  for (const auto& c : cases) {
    const std::string where = "lenet " + std::to_string(c.channels) + "x" +
                              std::to_string(c.extra_blocks) + " on " + std::to_string(c.h) + "x" +
                              std::to_string(c.w);
    torch::manual_seed(c.h * 31 + c.w);
    encoders::LeNet lenet(encoders::LeNetOptions(c.in_channels, {c.h, c.w})
                              .channels(c.channels)
                              .extra_blocks(c.extra_blocks));
    randomize_batch_norms(*lenet, 7);
    lenet->eval();
    const auto obs = calibrate_lenet(lenet, {1, c.in_channels, c.h, c.w}, c.is_signed);
    auto q = nn::quant::quantize_module(*lenet, obs, QuantizeOptions{});
    ASSERT_EQ(q->quantized.size(), static_cast<std::size_t>(c.extra_blocks + 1)) << where;
    auto compiled = compile_lenet_int8_plan(encoders::EncoderBlock(lenet.ptr()), *q);
    ASSERT_TRUE(compiled) << where;
    for (int64_t batch : {1, 3, 40}) {
      if (c.h >= 100 && batch == 40) batch = 8;  // keep the big audio map fast
      data::ModalityBatch in;
      in.data = int8_test_input({batch, c.in_channels, c.h, c.w}, c.is_signed);
      in.present = torch::ones({batch}, torch::kBool);
      torch::NoGradGuard no_grad;
      const nn::Encoded ref = lenet->encode(in);  // the hooked int8 module path
      const nn::Encoded got = compiled->encode(in);
      const std::string at = where + ", batch " + std::to_string(batch);
      EXPECT_LE(plan_rel_diff(got.pooled, ref.pooled), 1e-5) << at;
      EXPECT_LE(plan_rel_diff(got.tokens, ref.tokens), 1e-5) << at;
      EXPECT_GT(ref.pooled.abs().max().item<double>(), 0.0) << at;
      EXPECT_TRUE(got.present.equal(in.present)) << at;
    }
    // And it is int8 arithmetic: off the float32 encoder by the quantization's rounding.
    q.reset();
    data::ModalityBatch in;
    in.data = int8_test_input({2, c.in_channels, c.h, c.w}, c.is_signed);
    in.present = torch::ones({2}, torch::kBool);
    torch::NoGradGuard no_grad;
    const torch::Tensor fp32 = lenet->encode(in).pooled;
    const double off = plan_rel_diff(compiled->encode(in).pooled, fp32);
    EXPECT_GT(off, 1e-4) << where;
    EXPECT_LT(off, 0.08) << where;  // quant_conformance_util.h's kInt8Tolerance
  }
}

TEST(PlanLenetInt8, OnlyAStaticRunWithEveryConvolutionInInt8IsCompiled) {
  torch::manual_seed(4);
  encoders::LeNet lenet(encoders::LeNetOptions(1, {28, 28}).channels(4).extra_blocks(1));
  lenet->eval();
  const auto obs = calibrate_lenet(lenet, {1, 1, 28, 28}, false);
  const encoders::EncoderBlock block(lenet.ptr());
  {
    QuantizeOptions o;
    o.float_layers = {"net.4"};  // the second convolution kept in float32
    auto q = nn::quant::quantize_module(*lenet, obs, o);
    EXPECT_FALSE(compile_lenet_int8_plan(block, *q));
  }
  {
    QuantizeOptions o;
    o.mode = QuantMode::dynamic_int8;  // no calibrated steps to compile
    auto q = nn::quant::quantize_module(*lenet, obs, o);
    EXPECT_FALSE(compile_lenet_int8_plan(block, *q));
  }
  auto q = nn::quant::quantize_module(*lenet, obs, QuantizeOptions{});
  EXPECT_TRUE(compile_lenet_int8_plan(block, *q));
  encoders::LeNet other(encoders::LeNetOptions(1, {28, 28}).channels(4).extra_blocks(1));
  EXPECT_FALSE(compile_lenet_int8_plan(encoders::EncoderBlock(other.ptr()), *q));  // not its model
}

class PlanInt8WholeModel : public ::testing::TestWithParam<std::string> {};

TEST_P(PlanInt8WholeModel, EqualsTheInt8ModulePathAtBatch1And40) {
  const std::string config = GetParam();
  models::MultimodalModel model = plan_test_model(config);
  std::map<std::string, LayerObservation> obs;
  {
    Calibrator calibrator(*model);
    torch::NoGradGuard no_grad;
    for (int64_t i = 0; i < 3; ++i) (void)model->forward(plan_test_batch(config, 16 + i));
    obs = calibrator.observations();
  }
  std::shared_ptr<const nn::quant::QuantizedModel> q =
      nn::quant::quantize_module(*model, obs, QuantizeOptions{});
  const InferencePlan plan(model, int8_plan_compilers(q));
  for (const auto& b : plan.blocks()) {
    const bool lenet = b.block == "encoders.image" || b.block == "encoders.audio";
    EXPECT_EQ(b.compiler, lenet ? "lenet_int8" : "") << config << " " << b.block;
  }
  EXPECT_GE(plan.compiled_blocks(), 1);
  torch::NoGradGuard no_grad;
  for (int64_t batch : {1, 40}) {
    const data::Batch in = plan_test_batch(config, batch);
    const models::ModelOutput ref = model->forward(in);  // int8 layers hooked in
    const models::ModelOutput got = plan.forward(in);
    for (const auto& [target, y] : ref.outputs) {
      EXPECT_LE(plan_rel_diff(got.outputs.at(target), y), 1e-5)
          << config << " batch " << batch << " " << target;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Configs, PlanInt8WholeModel,
                         ::testing::Values("avmnist/audio.yaml", "avmnist/lf.yaml",
                                           "avmnist/lrtf.yaml", "avmnist/xattn.yaml"),
                         [](const auto& info) {
                           std::string n = info.param.substr(info.param.find('/') + 1);
                           return n.substr(0, n.find('.'));
                         });

}  // namespace
}  // namespace mmfuse::runtime
