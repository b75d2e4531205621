// Options that balance a fusion's inputs: concat's `normalize: l2`, `scale` and `power`, and the
// gated unit's `gate_from: projections` -- each checked against a hand computation, with its config
// spelling and the errors of a wrong value.
#include <gtest/gtest.h>

#include "fusion_test_util.h"
#include "mmfuse/nn/fusion/concat.h"
#include "mmfuse/nn/fusion/gated.h"

namespace mmfuse::testing {
namespace fusion_options {

using namespace mmfuse::fusion;

TEST(GatedFusion, GateFromProjectionsReadsTheTanhProjections) {
  // gate_from: projections -- the gate is an (M*D x M*D) Linear over [h_0, h_1]. With it set to
  // the identity, unit d's scores are h_0[d] and h_1[d], so z_0 = sigmoid(h_0[d] - h_1[d]).
  torch::manual_seed(0);
  GatedFusion f(GatedFusionOptions({3, 400}).dim(2).gate_from_projections(true));
  EXPECT_EQ(fusion_param(*f, "gate.weight").sizes(), (std::vector<int64_t>{4, 4}));
  {
    torch::NoGradGuard no_grad;
    fusion_param(*f, "gate.weight").copy_(torch::eye(4));
    fusion_param(*f, "gate.bias").zero_();
  }
  auto a = torch::randn({5, 3}), b = torch::randn({5, 400});
  auto out = f->fuse(pooled_inputs({a, b})).fused;
  auto h0 = torch::tanh(torch::mm(a, fusion_param(*f, "proj.0.weight").t()) +
                        fusion_param(*f, "proj.0.bias"));
  auto h1 = torch::tanh(torch::mm(b, fusion_param(*f, "proj.1.weight").t()) +
                        fusion_param(*f, "proj.1.bias"));
  auto z0 = torch::sigmoid(h0 - h1);
  EXPECT_TRUE(torch::allclose(out, z0 * h0 + (1 - z0) * h1, 1e-5, 1e-6));
  // The config spelling, and a wrong value named.
  auto ctx = small_context(2);
  auto built = build_fusion("{type: gated, dim: 2, gate_from: projections}", ctx, 0);
  EXPECT_EQ(built.module()->named_parameters()["gate.weight"].size(1), 4);
  auto paper = build_fusion("{type: gated, dim: 2}", ctx, 0);
  EXPECT_EQ(paper.module()->named_parameters()["gate.weight"].size(1), 12 + 20);
  EXPECT_THROW(build_fusion("{type: gated, gate_from: tokens}", ctx, 0), std::exception);
}

TEST(ConcatFusion, L2NormalizeAndScaleEachModalityBeforeConcatenation) {
  // Inputs image [3, 4] (norm 5 per row) and audio: normalize: l2, scale {image: 0.5} -> the
  // image part is x / 5 * 0.5, the audio part x / |x|; a zero row stays zero.
  auto ctx = small_context(2);
  ctx.dims = {2, 3};
  auto f = build_fusion("{type: concat, normalize: l2, scale: {image: 0.5}}", ctx, 0);
  auto a = torch::tensor({{3.f, 4.f}, {0.f, 0.f}}),
       b = torch::tensor({{1.f, 2.f, 2.f}, {0.f, 0.f, 6.f}});
  auto out = f->fuse(pooled_inputs({a, b})).fused;
  auto expected =
      torch::tensor({{0.3f, 0.4f, 1.f / 3, 2.f / 3, 2.f / 3}, {0.f, 0.f, 0.f, 0.f, 1.f}});
  EXPECT_TRUE(torch::allclose(out, expected, 1e-6, 1e-7)) << out;
  // Without options the vectors pass unchanged.
  auto plain = build_fusion("{type: concat}", ctx, 0)->fuse(pooled_inputs({a, b})).fused;
  EXPECT_TRUE(torch::equal(plain, torch::cat({a, b}, 1)));
  // A name that is not an input, and a factor that is not positive, are named.
  try {
    build_fusion("{type: concat, scale: {text: 0.5}}", ctx, 0);
    ADD_FAILURE() << "expected an error";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("'text' is not an input of this fusion (image, audio)"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(build_fusion("{type: concat, scale: {image: 0}}", ctx, 0), std::exception);
  EXPECT_THROW(build_fusion("{type: concat, normalize: l1}", ctx, 0), std::exception);
}

TEST(ConcatFusion, PowerMapsEachComponentToItsSignedPowerBeforeNormalizing) {
  // power {image: 0.5}: image [9, -16, 0] -> [3, -4, 0] -> l2 [0.6, -0.8, 0]; audio unchanged.
  auto ctx = small_context(2);
  ctx.dims = {3, 2};
  auto f = build_fusion("{type: concat, normalize: l2, power: {image: 0.5}}", ctx, 0);
  auto a = torch::tensor({{9.f, -16.f, 0.f}}, torch::requires_grad()),
       b = torch::tensor({{3.f, 4.f}});
  auto out = f->fuse(pooled_inputs({a, b})).fused;
  auto expected = torch::tensor({{0.6f, -0.8f, 0.f, 0.6f, 0.8f}});
  EXPECT_TRUE(torch::allclose(out, expected, 1e-6, 1e-7)) << out;
  // A zero component passes a finite gradient (0), not inf * 0.
  out.sum().backward();
  EXPECT_TRUE(torch::isfinite(a.grad()).all().item<bool>()) << a.grad();
  EXPECT_EQ(a.grad()[0][2].item<float>(), 0.f);
  // Without l2: image [4, -9] with power 0.5 -> [2, -3].
  ctx.dims = {2, 2};
  auto g = build_fusion("{type: concat, power: {image: 0.5}}", ctx, 0);
  auto plain = g->fuse(pooled_inputs({torch::tensor({{4.f, -9.f}}), b})).fused;
  EXPECT_TRUE(torch::allclose(plain, torch::tensor({{2.f, -3.f, 3.f, 4.f}}), 1e-6, 1e-7));
  // An absent image takes the placeholder as it is, and the placeholder learns.
  auto absent = pooled_inputs({torch::tensor({{4.f, -9.f}}), b});
  absent[0].present = torch::tensor({false});
  auto filled = g->fuse(absent).fused;
  EXPECT_TRUE(torch::allclose(filled, torch::tensor({{0.f, 0.f, 3.f, 4.f}}))) << filled;
  filled.slice(1, 0, 2).sum().backward();
  auto placeholder = fusion_param(*g.module(), "placeholder_0");
  EXPECT_TRUE(torch::equal(placeholder.grad(), torch::ones({2}))) << placeholder.grad();
  EXPECT_THROW(build_fusion("{type: concat, power: {image: -1}}", ctx, 0), std::exception);
  EXPECT_THROW(build_fusion("{type: concat, power: {text: 0.5}}", ctx, 0), std::exception);
}

}  // namespace fusion_options
}  // namespace mmfuse::testing
