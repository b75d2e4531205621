// FusedSGD equals LibTorch's torch::optim::SGD bit for bit (values and momentum buffers, every
// option, odd sizes and parameters it leaves to LibTorch), and its state is LibTorch's.
#include "mmfuse/train/fused_sgd.h"

#include <gtest/gtest.h>

#include <sstream>

namespace mmfuse::train::fused_sgd_test {

// Parameters of odd sizes (vector tails), one non-contiguous (LibTorch's path), one without a
// gradient in some steps.
std::vector<torch::Tensor> make_params() {
  torch::manual_seed(7);
  std::vector<torch::Tensor> ps{torch::randn({1}), torch::randn({37}), torch::randn({6, 3, 5, 5}),
                                torch::randn({100, 24}), torch::randn({9, 4}).t()};
  for (auto& p : ps) p = p.detach().requires_grad_(true);
  return ps;
}

std::vector<torch::Tensor> clone_params(const std::vector<torch::Tensor>& ps) {
  std::vector<torch::Tensor> out;
  for (const auto& p : ps) {
    auto c = p.detach().clone(at::MemoryFormat::Preserve).requires_grad_(true);
    out.push_back(c);
  }
  return out;
}

// Steps both optimizers with the same gradients; the parameters must stay equal.
void expect_same_steps(const torch::optim::SGDOptions& options) {
  auto plain_params = make_params();
  auto fused_params = clone_params(plain_params);
  ASSERT_FALSE(fused_params.back().is_contiguous());
  torch::optim::SGD plain(plain_params, options);
  FusedSGD fused(fused_params, options);
  for (int step = 0; step < 4; ++step) {
    for (std::size_t i = 0; i < plain_params.size(); ++i) {
      if (step == 2 && i == 1) {  // no gradient this step: left alone by both
        plain_params[i].mutable_grad() = torch::Tensor();
        fused_params[i].mutable_grad() = torch::Tensor();
        continue;
      }
      auto g = torch::randn(plain_params[i].sizes()) * 3;
      plain_params[i].mutable_grad() = g.clone();
      fused_params[i].mutable_grad() = g.clone();
    }
    plain.step();
    fused.step();
    for (std::size_t i = 0; i < plain_params.size(); ++i) {
      ASSERT_TRUE(torch::equal(fused_params[i], plain_params[i]))
          << "parameter " << i << " step " << step << " max diff "
          << (fused_params[i] - plain_params[i]).abs().max().item<float>();
    }
  }
  ASSERT_EQ(fused.state().size(), plain.state().size());
  for (std::size_t i = 0; i < plain_params.size() && options.momentum() != 0; ++i) {
    auto key = [](const torch::Tensor& p) { return c10::guts::to_string(p.unsafeGetTensorImpl()); };
    const auto& a =
        static_cast<torch::optim::SGDParamState&>(*fused.state().at(key(fused_params[i])));
    const auto& b =
        static_cast<torch::optim::SGDParamState&>(*plain.state().at(key(plain_params[i])));
    EXPECT_TRUE(torch::equal(a.momentum_buffer(), b.momentum_buffer())) << "buffer " << i;
  }
}

// On every loop this CPU runs (plain, and AVX2 and AVX-512 where it has them).
TEST(FusedSGD, EqualsLibTorchsSgdBitForBit) {
  using O = torch::optim::SGDOptions;
  for (FusedSgdLoop loop : fused_sgd_loops()) {
    SCOPED_TRACE("loop " + std::to_string(static_cast<int>(loop)));
    set_fused_sgd_loop(loop);
    expect_same_steps(O(0.05));                                   // plain
    expect_same_steps(O(0.01).momentum(0.9).weight_decay(1e-4));  // the AV-MNIST recipes
    expect_same_steps(O(0.01).momentum(0.9).dampening(0.1).weight_decay(0.03));
    expect_same_steps(O(0.02).momentum(0.8).nesterov(true).weight_decay(1e-3));
    expect_same_steps(O(0.3).weight_decay(0.5));  // decay, no momentum
  }
  set_fused_sgd_loop(FusedSgdLoop::automatic);
}

// Groups with their own learning rates (per-group multipliers) and a checkpoint: the state saved
// by FusedSGD loads into LibTorch's SGD and continues identically.
TEST(FusedSGD, GroupsAndCheckpointsAreLibTorchs) {
  auto a = make_params(), b = clone_params(a);
  auto groups = [](const std::vector<torch::Tensor>& ps) {
    std::vector<torch::optim::OptimizerParamGroup> g;
    g.emplace_back(std::vector<torch::Tensor>{ps[0], ps[1], ps[2]});
    g.emplace_back(
        std::vector<torch::Tensor>{ps[3], ps[4]},
        std::make_unique<torch::optim::SGDOptions>(torch::optim::SGDOptions(0.001).momentum(0.5)));
    return g;
  };
  const auto defaults = torch::optim::SGDOptions(0.01).momentum(0.9).weight_decay(1e-4);
  FusedSGD fused(groups(a), defaults);
  torch::optim::SGD plain(groups(b), defaults);
  auto set_grads = [&](int seed) {
    torch::manual_seed(seed);
    for (std::size_t i = 0; i < a.size(); ++i) {
      auto g = torch::randn(a[i].sizes());
      a[i].mutable_grad() = g.clone();
      b[i].mutable_grad() = g.clone();
    }
  };
  set_grads(1);
  fused.step();
  plain.step();
  std::stringstream saved;
  {
    torch::serialize::OutputArchive archive;
    fused.save(archive);
    archive.save_to(saved);
  }
  torch::optim::SGD reloaded(groups(a), defaults);
  {
    torch::serialize::InputArchive archive;
    archive.load_from(saved);
    reloaded.load(archive);
  }
  set_grads(2);
  reloaded.step();  // continues FusedSGD's run with LibTorch's SGD
  plain.step();
  for (std::size_t i = 0; i < a.size(); ++i) {
    EXPECT_TRUE(torch::equal(a[i], b[i])) << "parameter " << i;
  }
}

// An update is an in-place change autograd sees (the version counter moves, as with p.add_): a
// graph that saved the old value refuses to run backward.
TEST(FusedSGD, AnUpdateIsSeenByAutograd) {
  auto p = torch::randn({5}).requires_grad_(true);
  FusedSGD opt(std::vector<torch::Tensor>{p}, torch::optim::SGDOptions(0.1));
  auto y = (p * p).sum();  // saves p
  p.mutable_grad() = torch::ones({5});
  opt.step();
  EXPECT_THROW(y.backward(), c10::Error);
}

}  // namespace mmfuse::train::fused_sgd_test
