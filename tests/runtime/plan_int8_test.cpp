// The int8 LeNet plan (plan_lenet_int8.cpp) against the module path of the same quantized model
// (int8 layers hooked in, nn/quant/hooks.h): LeNets of odd shapes with signed and unsigned
// inputs, batches 1, 3 and 40, and whole AV-MNIST models through InferencePlan with an int8
// run's compilers. The plan keeps 8-bit codes between blocks where the module path goes back to
// float32; both round the same float values, so they agree to float32 rounding.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>

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

// The compiled LeNet equals the hooked int8 module path at batches 1, 3 and 40, and is off the
// float32 encoder by quantization's rounding (so it really ran in int8).
void expect_int8_plan_equals_module(encoders::LeNet& lenet,
                                    std::shared_ptr<nn::quant::QuantizedModel>& q,
                                    const Int8LenetCase& c, const std::string& where) {
  auto compiled = compile_lenet_int8_plan(encoders::EncoderBlock(lenet.ptr()), *q);
  ASSERT_TRUE(compiled) << where;
  torch::NoGradGuard no_grad;
  for (int64_t batch : {1, 3, 40}) {
    if (c.h >= 100 && batch == 40) batch = 8;  // keep the big audio map fast
    data::ModalityBatch in;
    in.data = int8_test_input({batch, c.in_channels, c.h, c.w}, c.is_signed);
    in.present = torch::ones({batch}, torch::kBool);
    const nn::Encoded ref = lenet->encode(in);  // the hooked int8 module path
    const nn::Encoded got = compiled->encode(in);
    const std::string at = where + ", batch " + std::to_string(batch);
    EXPECT_LE(plan_rel_diff(got.pooled, ref.pooled), 1e-5) << at;
    EXPECT_LE(plan_rel_diff(got.tokens, ref.tokens), 1e-5) << at;
    EXPECT_GT(ref.pooled.abs().max().item<double>(), 0.0) << at;
    EXPECT_TRUE(got.present.equal(in.present)) << at;
  }
  q.reset();  // the module is float32 again; the compiled LeNet holds its int8 kernels
  data::ModalityBatch in;
  in.data = int8_test_input({2, c.in_channels, c.h, c.w}, c.is_signed);
  in.present = torch::ones({2}, torch::kBool);
  const torch::Tensor fp32 = lenet->encode(in).pooled;
  const double off = plan_rel_diff(compiled->encode(in).pooled, fp32);
  EXPECT_GT(off, 1e-4) << where;
  EXPECT_LT(off, 0.08) << where;  // quant_conformance_util.h's kInt8Tolerance
}

TEST(PlanLenetInt8, EqualsTheInt8ModulePathOnOddShapesAndBatches) {
  const std::vector<Int8LenetCase> cases = {{1, 6, 3, 28, 28, false},
                                            {1, 3, 5, 112, 112, true},
                                            {3, 5, 1, 13, 17, true},
                                            {2, 7, 0, 9, 11, false},
                                            {1, 4, 2, 23, 19, true}};
  // Every layer in int8, the first kept in float32 (as the sensitivity pass keeps the audio
  // encoder's first convolution), a middle one kept in float32.
  const std::vector<std::vector<std::string>> float_sets = {{}, {"net.0"}, {"net.4"}};
  for (const auto& c : cases) {
    for (const auto& float_layers : float_sets) {
      if (c.extra_blocks == 0 && !float_layers.empty()) continue;
      const std::string where = "lenet " + std::to_string(c.channels) + "x" +
                                std::to_string(c.extra_blocks) + " on " + std::to_string(c.h) +
                                "x" + std::to_string(c.w) + " float [" +
                                (float_layers.empty() ? "" : float_layers[0]) + "]";
      torch::manual_seed(c.h * 31 + c.w);
      encoders::LeNet lenet(encoders::LeNetOptions(c.in_channels, {c.h, c.w})
                                .channels(c.channels)
                                .extra_blocks(c.extra_blocks));
      randomize_batch_norms(*lenet, 7);
      lenet->eval();
      const auto obs = calibrate_lenet(lenet, {1, c.in_channels, c.h, c.w}, c.is_signed);
      QuantizeOptions o;
      o.float_layers = float_layers;
      auto q = nn::quant::quantize_module(*lenet, obs, o);
      ASSERT_EQ(q->quantized.size() + float_layers.size(),
                static_cast<std::size_t>(c.extra_blocks + 1))
          << where;
      expect_int8_plan_equals_module(lenet, q, c, where);
    }
  }
}

TEST(PlanLenetInt8, OnlyAStaticRunWithInt8ConvolutionsIsCompiled) {
  torch::manual_seed(4);
  encoders::LeNet lenet(encoders::LeNetOptions(1, {28, 28}).channels(4).extra_blocks(1));
  lenet->eval();
  const auto obs = calibrate_lenet(lenet, {1, 1, 28, 28}, false);
  const encoders::EncoderBlock block(lenet.ptr());
  {
    QuantizeOptions o;
    o.float_layers = {"net.0", "net.4"};  // nothing in int8: the float32 plan's LeNet
    auto q = nn::quant::quantize_module(*lenet, obs, o);
    EXPECT_FALSE(compile_lenet_int8_plan(block, *q));
    EXPECT_EQ(int8_plan_compilers(q).compile(block).second, "lenet");
  }
  {
    QuantizeOptions o;
    o.mode = QuantMode::dynamic_int8;  // no calibrated steps to compile
    auto q = nn::quant::quantize_module(*lenet, obs, o);
    EXPECT_FALSE(compile_lenet_int8_plan(block, *q));
  }
  std::shared_ptr<const nn::quant::QuantizedModel> q =
      nn::quant::quantize_module(*lenet, obs, QuantizeOptions{});
  EXPECT_TRUE(compile_lenet_int8_plan(block, *q));
  EXPECT_EQ(int8_plan_compilers(q).compile(block).second, "lenet_int8");
  encoders::LeNet other(encoders::LeNetOptions(1, {28, 28}).channels(4).extra_blocks(1));
  const encoders::EncoderBlock unhooked(other.ptr());  // not the quantized model's: float32
  EXPECT_FALSE(compile_lenet_int8_plan(unhooked, *q));
  EXPECT_EQ(int8_plan_compilers(q).compile(unhooked).second, "lenet");
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
    // LeNets, the cross-attention and MLP heads in int8; the low-rank fusion's factors are no
    // Linear or Conv2d layer, so it stays a float32 block with its float compiler; the rest
    // (hooked Linear layers) the module path.
    const bool lenet = b.block == "encoders.image" || b.block == "encoders.audio";
    const bool low_rank = b.block == "fusion" && config == "avmnist/lrtf.yaml";
    const bool xattn = b.block == "fusion" && config == "avmnist/xattn.yaml";
    const bool head = b.block == "heads.digit";  // mlp heads, both layers in int8
    EXPECT_EQ(b.compiler, lenet      ? "lenet_int8"
                          : low_rank ? "low_rank"
                          : xattn    ? "cross_attention_int8"
                          : head     ? "mlp_int8"
                                     : "")
        << config << " " << b.block;
  }
  EXPECT_GE(plan.compiled_blocks(), 1);
  if (config == "avmnist/xattn.yaml") {  // the compiled fusion has int8 layers to reproduce
    std::set<std::string> fusion_layers;
    for (const auto& name : q->quantized) {
      if (name.rfind("fusion.", 0) == 0) fusion_layers.insert(name);
    }
    // (the attention's in-projections are sliced inside MultiheadAttention: no Linear product
    // the hooks see; they stay float32 and are stored weight-only int8.)
    EXPECT_EQ(fusion_layers,
              (std::set<std::string>{"fusion.proj.0", "fusion.proj.1", "fusion.attn.0.out_proj",
                                     "fusion.attn.1.out_proj", "fusion.ff.0", "fusion.ff.2"}));
  }
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

TEST(PlanInt8, ConcurrentCallersGetTheirOwnBuffersAndScratchpads) {
  models::MultimodalModel model = plan_test_model("avmnist/lf.yaml");
  std::map<std::string, LayerObservation> obs;
  {
    Calibrator calibrator(*model);
    torch::NoGradGuard no_grad;
    (void)model->forward(plan_test_batch("avmnist/lf.yaml", 16));
    obs = calibrator.observations();
  }
  std::shared_ptr<const nn::quant::QuantizedModel> q =
      nn::quant::quantize_module(*model, obs, QuantizeOptions{});
  const InferencePlan plan(model, int8_plan_compilers(q));
  std::vector<data::Batch> batches;
  std::vector<torch::Tensor> expected;
  for (int64_t i = 0; i < 4; ++i) {
    batches.push_back(plan_test_batch("avmnist/lf.yaml", 3 + i));
    expected.push_back(plan.forward(batches.back()).outputs.at("digit"));
  }
  std::vector<torch::Tensor> got(4);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      for (int k = 0; k < 10; ++k) got[i] = plan.forward(batches[i]).outputs.at("digit");
    });
  }
  for (auto& t : threads) t.join();
  for (std::size_t i = 0; i < 4; ++i) EXPECT_TRUE(got[i].equal(expected[i])) << "caller " << i;
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
