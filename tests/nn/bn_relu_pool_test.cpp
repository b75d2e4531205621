// The fused training block (BatchNorm2d -> ReLU -> MaxPool2d(2), nn/encoders/bn_relu_pool.h)
// against LibTorch's three modules: outputs, running statistics and gradients of the input, the
// weight and the bias, on random shapes (odd sizes, batch 1, one channel), ties and NaN; and a
// LeNet training step fused and unfused.
#include <gtest/gtest.h>

#include "mmfuse/nn/encoders/bn_relu_pool.h"
#include "mmfuse/nn/encoders/lenet.h"

namespace mmfuse::encoders {
namespace {

double max_rel_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>() / std::max(1e-6, b.abs().max().item<double>());
}

struct Result {
  torch::Tensor out, dx, dweight, dbias, running_mean, running_var, batches;
};

// One forward and backward (gradient `g` on the output) through either path.
Result run(torch::nn::BatchNorm2d bn, const torch::Tensor& input, const torch::Tensor& g,
           bool fused) {
  auto x = input.clone().requires_grad_(true);
  bn->train();
  auto out = fused ? bn_relu_max_pool2(x, *bn) : torch::max_pool2d(torch::relu(bn(x)), 2);
  out.backward(g);
  Result r{out.detach(), x.grad()};
  if (bn->weight.defined()) r.dweight = bn->weight.grad(), r.dbias = bn->bias.grad();
  r.running_mean = bn->running_mean.clone();
  r.running_var = bn->running_var.clone();
  r.batches = bn->num_batches_tracked.clone();
  return r;
}

// Two batch norms with the same non-trivial state (gamma of both signs).
std::pair<torch::nn::BatchNorm2d, torch::nn::BatchNorm2d> twin_batch_norms(
    torch::nn::BatchNorm2dOptions o) {
  torch::nn::BatchNorm2d a(o), b(o);
  torch::NoGradGuard no_grad;
  if (o.affine()) {
    a->weight.uniform_(-1.5, 1.5);
    a->bias.uniform_(-0.5, 0.5);
    b->weight.copy_(a->weight);
    b->bias.copy_(a->bias);
  }
  a->running_mean.uniform_(-1, 1);
  a->running_var.uniform_(0.5, 2);
  b->running_mean.copy_(a->running_mean);
  b->running_var.copy_(a->running_var);
  return {a, b};
}

void expect_same(const Result& got, const Result& want, const std::string& what) {
  ASSERT_EQ(got.out.sizes(), want.out.sizes()) << what;
  EXPECT_LT(max_rel_diff(got.out, want.out), 1e-5) << what << ": output";
  EXPECT_LT(max_rel_diff(got.dx, want.dx), 1e-4) << what << ": input gradient";
  if (want.dweight.defined()) {
    EXPECT_LT(max_rel_diff(got.dweight, want.dweight), 1e-4) << what << ": weight gradient";
    EXPECT_LT(max_rel_diff(got.dbias, want.dbias), 1e-4) << what << ": bias gradient";
  }
  EXPECT_LT(max_rel_diff(got.running_mean, want.running_mean), 1e-5) << what << ": running mean";
  EXPECT_LT(max_rel_diff(got.running_var, want.running_var), 1e-5) << what << ": running var";
  EXPECT_EQ(got.batches.item<int64_t>(), want.batches.item<int64_t>()) << what;
}

TEST(BnReluPool, EqualsTheThreeModulesOnRandomShapes) {
  torch::manual_seed(11);
  // {N, C, H, W}: odd sides (a row / column pooled away), batch 1, one channel, 2x2 maps, wide.
  const std::vector<std::vector<int64_t>> shapes = {
      {4, 6, 28, 28}, {1, 3, 7, 9}, {3, 1, 2, 2}, {2, 5, 13, 6}, {1, 24, 11, 11}, {8, 12, 14, 15}};
  for (const auto& shape : shapes) {
    for (bool affine : {true, false}) {
      auto o = torch::nn::BatchNorm2dOptions(shape[1]).affine(affine);
      auto [fused_bn, plain_bn] = twin_batch_norms(o);
      auto x = torch::randn(shape) * 3 + 1.5;  // a mean far from 0: the moments' cancellation
      auto g = torch::randn({shape[0], shape[1], shape[2] / 2, shape[3] / 2});
      std::ostringstream what;
      what << "shape " << torch::IntArrayRef(shape) << (affine ? " affine" : " no affine");
      // Two steps: the second starts from the first's running statistics.
      for (int step = 0; step < 2; ++step) {
        auto want = run(plain_bn, x, g, false);
        auto got = run(fused_bn, x, g, true);
        expect_same(got, want, what.str() + " step " + std::to_string(step));
        if (affine)
          fused_bn->weight.mutable_grad().reset(), plain_bn->weight.mutable_grad().reset();
        if (affine) fused_bn->bias.mutable_grad().reset(), plain_bn->bias.mutable_grad().reset();
      }
    }
  }
}

TEST(BnReluPool, TiesGoToTheFirstPositionAsMaxPool) {
  torch::manual_seed(12);
  // Values on a coarse grid: most windows hold equal maxima (and whole windows of zeros).
  auto x = torch::randint(-2, 3, {2, 4, 8, 10}).to(torch::kFloat32);
  auto g = torch::randn({2, 4, 4, 5});
  auto [fused_bn, plain_bn] = twin_batch_norms(torch::nn::BatchNorm2dOptions(4));
  auto want = run(plain_bn, x, g, false);
  auto got = run(fused_bn, x, g, true);
  expect_same(got, want, "ties");
}

TEST(BnReluPool, CumulativeMomentumAndNaN) {
  torch::manual_seed(13);
  auto o = torch::nn::BatchNorm2dOptions(3).momentum(c10::nullopt);  // running average of batches
  auto [fused_bn, plain_bn] = twin_batch_norms(o);
  auto g = torch::randn({2, 3, 3, 3});
  for (int step = 0; step < 3; ++step) {
    auto x = torch::randn({2, 3, 6, 7});
    expect_same(run(fused_bn, x, g, true), run(plain_bn, x, g, false),
                "momentum none, step " + std::to_string(step));
  }
  auto x = torch::randn({2, 3, 6, 7});
  x[1][2][3][4] = std::numeric_limits<float>::quiet_NaN();
  auto out = bn_relu_max_pool2(x, *fused_bn);
  EXPECT_TRUE(out[0][2].isnan().all().item<bool>()) << "a NaN spoils its channel's statistics";
  EXPECT_FALSE(out[0][1].isnan().any().item<bool>());
}

TEST(BnReluPool, RefusesWhatItCannotRun) {
  torch::nn::BatchNorm2d bn(3);
  EXPECT_FALSE(fused_block_applies(torch::rand({2, 3, 1, 8})));
  EXPECT_FALSE(fused_block_applies(torch::rand({2, 3, 4, 4}, torch::kFloat64)));
  EXPECT_THROW(bn_relu_max_pool2(torch::rand({2, 4, 4, 4}), *bn), c10::Error);
}

// A LeNet training step (forward, loss, backward) fused and unfused: same output, loss,
// gradients of every parameter and running statistics.
TEST(BnReluPool, LeNetTrainingStepFusedEqualsUnfused) {
  auto step = [](bool fused) {
    set_fused_blocks(fused);
    torch::manual_seed(5);
    LeNet net(LeNetOptions(1, {29, 30}).channels(4).extra_blocks(2));
    net->train();
    auto x = torch::rand({5, 1, 29, 30});
    auto map = net->feature_map(x);
    (map * map).sum().backward();
    set_fused_blocks(true);
    std::vector<torch::Tensor> state{map.detach()};
    for (const auto& p : net->named_parameters()) state.push_back(p.value().grad());
    for (const auto& b : net->named_buffers()) state.push_back(b.value().clone());
    return state;
  };
  auto fused = step(true), plain = step(false);
  ASSERT_EQ(fused.size(), plain.size());
  for (std::size_t i = 0; i < fused.size(); ++i) {
    EXPECT_LT(max_rel_diff(fused[i].to(torch::kFloat64), plain[i].to(torch::kFloat64)), 1e-4)
        << "tensor " << i;
  }
}

}  // namespace
}  // namespace mmfuse::encoders
