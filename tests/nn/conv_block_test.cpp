// The fused training block Conv2d -> BatchNorm2d -> ReLU -> MaxPool2d(2) on oneDNN primitives
// (nn/encoders/conv_block.h) against LibTorch's four modules: outputs, running statistics and the
// gradients of the input, the convolution's weight and the batch norm's weight and bias, on
// random shapes covering both of its layouts (oneDNN's 16-lane blocks for thin first layers, NHWC
// for the rest: channel counts below, at and above a vector of 8, odd sides, batch 1), plain and
// channels-last inputs, NaN, and the cases it refuses.
#include <gtest/gtest.h>
#include <oneapi/dnnl/dnnl.hpp>

#include "mmfuse/nn/encoders/bn_relu_pool.h"
#include "mmfuse/nn/encoders/conv_block.h"
#include "mmfuse/nn/encoders/lenet.h"

namespace mmfuse::encoders {
namespace conv_block_test {

// oneDNN has its blocked and NHWC convolution kernels from AVX2 on; on an older CPU it may pick
// other layouts for these blocks, which the op refuses (LeNet then keeps LibTorch's convolution,
// as RefusesWhatItCannotRun and the LeNet tests check). Checked on AVX2 with
// ONEDNN_MAX_CPU_ISA=AVX2 (8-lane blocks) and on AVX-512 (16-lane blocks).
bool onednn_has_avx2() {
  const auto isa = static_cast<unsigned>(dnnl::get_effective_cpu_isa());
  const auto avx2 = static_cast<unsigned>(dnnl::cpu_isa::avx2);
  return (isa & avx2) == avx2;
}
#define SKIP_BELOW_AVX2() \
  if (!onednn_has_avx2()) GTEST_SKIP() << "oneDNN runs below AVX2 here: the op stands aside"

double max_rel_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>() / std::max(1e-6, b.abs().max().item<double>());
}

struct Block {
  torch::nn::Conv2d conv{nullptr};
  torch::nn::BatchNorm2d bn{nullptr};
};

// Two blocks with the same non-trivial state (gamma of both signs, moved running statistics).
std::pair<Block, Block> twin_blocks(int64_t ic, int64_t oc, int64_t k, bool affine) {
  auto make = [&] {
    return Block{torch::nn::Conv2d(torch::nn::Conv2dOptions(ic, oc, k).padding(k / 2).bias(false)),
                 torch::nn::BatchNorm2d(torch::nn::BatchNorm2dOptions(oc).affine(affine))};
  };
  Block a = make(), b = make();
  torch::NoGradGuard no_grad;
  b.conv->weight.copy_(a.conv->weight);
  if (affine) {
    a.bn->weight.uniform_(-1.5, 1.5);
    a.bn->bias.uniform_(-0.5, 0.5);
    b.bn->weight.copy_(a.bn->weight);
    b.bn->bias.copy_(a.bn->bias);
  }
  a.bn->running_mean.uniform_(-1, 1);
  a.bn->running_var.uniform_(0.5, 2);
  b.bn->running_mean.copy_(a.bn->running_mean);
  b.bn->running_var.copy_(a.bn->running_var);
  return {a, b};
}

struct Result {
  std::vector<torch::Tensor> tensors;  // out, dx, dweight, [dgamma, dbeta], running mean / var
  int64_t batches = 0;
};

// One forward and backward (gradient `g` on the output) through either path.
Result run(Block& block, const torch::Tensor& input, const torch::Tensor& g, bool fused) {
  auto x = input.detach().clone(input.suggest_memory_format()).requires_grad_(true);
  block.conv->train();
  block.bn->train();
  torch::Tensor out;
  if (fused) {
    EXPECT_TRUE(conv_block_applies(x, *block.conv));
    out = conv_bn_relu_max_pool2(x, *block.conv, *block.bn);
  } else {
    out = torch::max_pool2d(torch::relu(block.bn(block.conv(x))), 2);
  }
  out.backward(g);
  Result r{{out.detach(), x.grad(), block.conv->weight.grad().clone()}};
  if (block.bn->weight.defined()) {
    r.tensors.push_back(block.bn->weight.grad().clone());
    r.tensors.push_back(block.bn->bias.grad().clone());
  }
  r.tensors.push_back(block.bn->running_mean.clone());
  r.tensors.push_back(block.bn->running_var.clone());
  r.batches = block.bn->num_batches_tracked.item<int64_t>();
  for (auto& p : block.conv->parameters()) p.mutable_grad().reset();
  for (auto& p : block.bn->parameters()) p.mutable_grad().reset();
  return r;
}

void expect_same(const Result& got, const Result& want, const std::string& what) {
  ASSERT_EQ(got.tensors.size(), want.tensors.size()) << what;
  ASSERT_EQ(got.tensors[0].sizes(), want.tensors[0].sizes()) << what;
  for (std::size_t i = 0; i < got.tensors.size(); ++i) {
    // The output within float rounding of the convolution; gradients one order looser.
    EXPECT_LT(max_rel_diff(got.tensors[i], want.tensors[i]), i == 0 ? 1e-5 : 1e-4)
        << what << ": tensor " << i << " (out, dx, dweight, [dgamma, dbeta], running mean, var)";
  }
  EXPECT_EQ(got.batches, want.batches) << what;
}

struct Case {
  int64_t n, ic, h, w, oc, k;
  bool channels_last;
};

TEST(ConvBlock, EqualsTheModulesOnRandomShapes) {
  SKIP_BELOW_AVX2();
  torch::manual_seed(21);
  const std::vector<Case> cases = {
      {4, 1, 28, 28, 6, 5, false},   // a first layer: 16-lane blocks, 6 channels of 16 used
      {3, 1, 13, 9, 17, 3, false},   // two blocks, the second with one channel; odd sides
      {2, 3, 11, 12, 7, 3, false},   // three input channels: still blocked
      {2, 6, 14, 14, 12, 3, true},   // NHWC: 12 channels, the second vector overlaps the first
      {1, 6, 7, 9, 8, 3, true},      // NHWC, exactly one vector, batch 1, odd sides
      {3, 12, 10, 10, 24, 3, true},  // NHWC, three vectors
      {2, 8, 6, 7, 20, 3, false},    // NHWC from a plain input (reordered), odd sides
      {2, 24, 5, 5, 48, 3, true},    // NHWC, a 5x5 map pooled to 2x2
  };
  for (const auto& c : cases) {
    for (bool affine : {true, false}) {
      auto [fused, plain] = twin_blocks(c.ic, c.oc, c.k, affine);
      auto x = torch::randn({c.n, c.ic, c.h, c.w}) * 2 + 0.5;
      if (c.channels_last) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
      auto g = torch::randn({c.n, c.oc, c.h / 2, c.w / 2});
      std::ostringstream what;
      what << "x " << x.sizes() << (c.channels_last ? " channels-last" : "") << " oc " << c.oc
           << " k " << c.k << (affine ? " affine" : " no affine");
      const int64_t before = conv_blocks_run();
      for (int step = 0; step < 2; ++step) {  // the second starts from the first's statistics
        expect_same(run(fused, x, g, true), run(plain, x, g, false),
                    what.str() + " step " + std::to_string(step));
      }
      EXPECT_EQ(conv_blocks_run(), before + 2) << what.str() << ": the oneDNN block ran";
    }
  }
}

TEST(ConvBlock, OutputIsChannelsLastForTheNextBlock) {
  SKIP_BELOW_AVX2();
  torch::manual_seed(22);
  auto [fused, plain] = twin_blocks(6, 12, 3, true);
  auto x = torch::randn({2, 6, 8, 8}).contiguous(torch::MemoryFormat::ChannelsLast);
  auto out = conv_bn_relu_max_pool2(x, *fused.conv, *fused.bn);
  EXPECT_TRUE(out.is_contiguous(torch::MemoryFormat::ChannelsLast));
  EXPECT_EQ(out.sizes(), torch::IntArrayRef({2, 12, 4, 4}));
}

TEST(ConvBlock, NaNPropagatesAsThroughTheModules) {
  SKIP_BELOW_AVX2();
  torch::manual_seed(23);
  for (int64_t ic : {1, 6}) {  // blocked and NHWC
    auto [fused, plain] = twin_blocks(ic, 9, 3, true);
    auto x = torch::randn({2, ic, 6, 6});
    if (ic > 1) x = x.contiguous(torch::MemoryFormat::ChannelsLast);
    x[1][0][3][2] = std::numeric_limits<float>::quiet_NaN();
    auto got = conv_bn_relu_max_pool2(x, *fused.conv, *fused.bn);
    auto want = torch::max_pool2d(torch::relu(plain.bn(plain.conv(x))), 2);
    // The convolution spreads the NaN to every output channel, whose statistics it then spoils.
    EXPECT_TRUE(got.isnan().all().item<bool>()) << ic << " input channels";
    EXPECT_TRUE(torch::equal(got.isnan(), want.isnan())) << ic << " input channels";
    EXPECT_TRUE(fused.bn->running_mean.isnan().all().item<bool>());
  }
}

TEST(ConvBlock, RefusesWhatItCannotRun) {
  auto x = torch::rand({2, 3, 8, 8});
  auto conv = [](torch::nn::Conv2dOptions o) { return torch::nn::Conv2d(o); };
  if (onednn_has_avx2()) {
    EXPECT_TRUE(
        conv_block_applies(x, *conv(torch::nn::Conv2dOptions(3, 6, 3).padding(1).bias(false))));
  }
  EXPECT_FALSE(
      conv_block_applies(x, *conv(torch::nn::Conv2dOptions(3, 2, 3).padding(1).bias(false))))
      << "2 channels in 8 or 16 lanes: mostly padding";
  EXPECT_FALSE(conv_block_applies(x, *conv(torch::nn::Conv2dOptions(3, 6, 3).padding(1))))
      << "a bias";
  EXPECT_FALSE(
      conv_block_applies(x, *conv(torch::nn::Conv2dOptions(3, 6, 3).stride(2).bias(false))));
  EXPECT_FALSE(conv_block_applies(
      x, *conv(torch::nn::Conv2dOptions(3, 6, 3).dilation(2).padding(2).bias(false))));
  EXPECT_FALSE(conv_block_applies(x.to(torch::kFloat64),
                                  *conv(torch::nn::Conv2dOptions(3, 6, 3).bias(false))));
  EXPECT_FALSE(conv_block_applies(torch::rand({2, 3, 3, 3}),
                                  *conv(torch::nn::Conv2dOptions(3, 6, 3).bias(false))))
      << "a 1x1 output cannot be pooled";
  set_fused_blocks(false);
  EXPECT_FALSE(conv_block_applies(x, *conv(torch::nn::Conv2dOptions(3, 6, 3).bias(false))));
  set_fused_blocks(true);
  set_conv_blocks(false);  // --no-conv-blocks
  EXPECT_FALSE(conv_block_applies(x, *conv(torch::nn::Conv2dOptions(3, 6, 3).bias(false))));
  set_conv_blocks(true);
  torch::nn::BatchNorm2d bn(5);
  auto c = conv(torch::nn::Conv2dOptions(3, 6, 3).padding(1).bias(false));
  EXPECT_THROW(conv_bn_relu_max_pool2(x, *c, *bn), c10::Error) << "6 channels, 5 in the norm";
}

// A LeNet whose blocks take both layouts (1 -> 6 channels blocked, 6 -> 12 and 12 -> 24 NHWC) runs
// them all as oneDNN blocks in a training step (the step's values: bn_relu_pool_test.cpp, whose
// LeNet of 4 channels mixes LibTorch's first convolution with two oneDNN blocks).
TEST(ConvBlock, LeNetTrainingRunsEveryBlockOnOneDnn) {
  SKIP_BELOW_AVX2();
  torch::manual_seed(5);
  LeNet net(LeNetOptions(1, {29, 30}).channels(6).extra_blocks(2));
  net->train();
  const int64_t before = conv_blocks_run();
  auto map = net->feature_map(torch::rand({5, 1, 29, 30}));
  map.sum().backward();
  EXPECT_EQ(conv_blocks_run(), before + 3);
  EXPECT_EQ(map.sizes(), torch::IntArrayRef({5, 24, 3, 3}));
}

// With its batch norms in eval mode (train.transfer.bn_eval) a training LeNet normalises with the
// running statistics, as the modules do: the fused ops, which use the batch's, stand aside.
TEST(ConvBlock, BatchNormsInEvalModeKeepTheModules) {
  torch::manual_seed(6);
  LeNet net(LeNetOptions(1, {16, 16}).channels(6).extra_blocks(1));
  net->train();
  for (auto& m : net->modules(false)) {
    if (auto* bn = m->as<torch::nn::BatchNorm2d>()) {
      bn->eval();
      torch::NoGradGuard no_grad;
      bn->running_mean.uniform_(-1, 1);
      bn->running_var.uniform_(0.5, 2);
    }
  }
  auto x = torch::rand({3, 1, 16, 16});
  const int64_t before = conv_blocks_run();
  auto got = net->feature_map(x);
  EXPECT_EQ(conv_blocks_run(), before);
  auto want = x;
  for (auto& m : net->modules(false)) {
    if (auto* conv = m->as<torch::nn::Conv2d>()) want = conv->forward(want);
    if (auto* bn = m->as<torch::nn::BatchNorm2d>()) {
      want = torch::max_pool2d(torch::relu(bn->forward(want)), 2);
    }
  }
  EXPECT_LT(max_rel_diff(got, want), 1e-6);
}

}  // namespace conv_block_test
}  // namespace mmfuse::encoders
