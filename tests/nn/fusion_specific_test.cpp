// Checks specific to single fusions: exact formulas (tensor, low-rank), gradient reversal,
// renormalised weights, composite naming, and parity with the Python peer's modules
// (../shared/peers/avmnist_peer.py, run through /usr/bin/python3 by fusion_peer_parity.py).
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "fusion_test_util.h"
#include "mmfuse/nn/fusion/composite.h"
#include "mmfuse/nn/fusion/cross_attention.h"
#include "mmfuse/nn/fusion/film.h"
#include "mmfuse/nn/fusion/gated.h"
#include "mmfuse/nn/fusion/gradient_reversal.h"
#include "mmfuse/nn/fusion/late.h"
#include "mmfuse/nn/fusion/low_rank.h"
#include "mmfuse/nn/fusion/tensor.h"
#include "mmfuse/nn/fusion/weighted_sum.h"
#include "test_util.h"

namespace mmfuse::testing {
namespace {

using namespace mmfuse::fusion;

TEST(GatedFusion, EachOutputUnitPicksItsOwnModality) {
  // Gate logits +-50 (bias only): unit 0 takes modality 0, unit 1 modality 1, so the fused
  // vector is [tanh(W_0 x_0)[0], tanh(W_1 x_1)[1]] -- both modalities' information side by side.
  torch::manual_seed(0);
  GatedFusion f(GatedFusionOptions({3, 4}).dim(2));
  auto a = torch::randn({5, 3}), b = torch::randn({5, 4});
  {
    torch::NoGradGuard no_grad;
    fusion_param(*f, "gate.weight").zero_();
    // scores viewed as [B, M=2, D=2]: index m * D + d
    fusion_param(*f, "gate.bias").copy_(torch::tensor({50.0, -50.0, -50.0, 50.0}));
  }
  auto out = f->fuse(pooled_inputs({a, b})).fused;
  auto h0 = torch::tanh(torch::mm(a, fusion_param(*f, "proj.0.weight").t()) +
                        fusion_param(*f, "proj.0.bias"));
  auto h1 = torch::tanh(torch::mm(b, fusion_param(*f, "proj.1.weight").t()) +
                        fusion_param(*f, "proj.1.bias"));
  EXPECT_TRUE(torch::allclose(out.select(1, 0), h0.select(1, 0), 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(out.select(1, 1), h1.select(1, 1), 1e-5, 1e-6));
  // With modality 1 absent every unit falls back to modality 0 (its weights sum to 1 over the
  // present modalities).
  auto in = pooled_inputs({a, b});
  in[1].present = torch::zeros({5}, torch::kBool);
  auto only_a = f->fuse(in).fused;
  EXPECT_TRUE(torch::allclose(only_a, h0, 1e-5, 1e-6));
}

TEST(TensorFusion, OutputIsTheFlattenedOuterProductOfAppendedOnes) {
  torch::manual_seed(0);
  TensorFusion f(TensorFusionOptions({3, 4, 2}));
  EXPECT_EQ(f->out_dim(), 4 * 5 * 3);
  auto a = torch::randn({2, 3}), b = torch::randn({2, 4}), c = torch::randn({2, 2});
  auto out = f->fuse(pooled_inputs({a, b, c})).fused;
  ASSERT_EQ(out.sizes(), (std::vector<int64_t>{2, 60}));
  auto one = [](const torch::Tensor& x, int64_t s, int64_t i) {
    return i < x.size(1) ? x[s][i].item<double>() : 1.0;
  };
  for (int64_t s = 0; s < 2; ++s)
    for (int64_t i = 0; i < 4; ++i)
      for (int64_t j = 0; j < 5; ++j)
        for (int64_t k = 0; k < 3; ++k) {
          double want = one(a, s, i) * one(b, s, j) * one(c, s, k);
          EXPECT_NEAR(out[s][(i * 5 + j) * 3 + k].item<double>(), want, 1e-5);
        }
}

TEST(LowRankFusion, OneModalityIsTheClosedFormAffineMap) {
  torch::manual_seed(0);
  LowRankFusion f(LowRankFusionOptions({5}, 3).rank(4));
  {
    torch::NoGradGuard g;
    fusion_param(*f, "bias").normal_();
  }
  auto fz = [&](const torch::Tensor& z) { return f->fuse(pooled_inputs({z})).fused; };
  auto a = torch::randn({2, 5}), b = torch::randn({2, 5}), zero = torch::zeros({2, 5});
  // Closed form: sum_r w_r ([z, 1] F_r) + bias.
  auto factor = fusion_param(*f, "factors.0"), w = fusion_param(*f, "rank_weights"),
       bias = fusion_param(*f, "bias");
  auto z1 = torch::cat({a, torch::ones({2, 1})}, 1);
  auto want = bias.expand({2, 3}).clone();
  for (int64_t r = 0; r < 4; ++r) want += w[0][r] * torch::matmul(z1, factor[r]);
  EXPECT_TRUE(torch::allclose(fz(a), want, 1e-5, 1e-5));
  // Affine: f(a + b) - f(0) = (f(a) - f(0)) + (f(b) - f(0)), and f(2a) - f(0) = 2 (f(a) - f(0)).
  auto f0 = fz(zero);
  EXPECT_TRUE(torch::allclose(fz(a + b) - f0, (fz(a) - f0) + (fz(b) - f0), 1e-4, 1e-5));
  EXPECT_TRUE(torch::allclose(fz(2 * a) - f0, 2 * (fz(a) - f0), 1e-4, 1e-5));
  EXPECT_FALSE(torch::allclose(f0, torch::zeros_like(f0)));  // the appended 1 is there
}

TEST(LowRankFusion, ParameterNamesAndShapesMatchThePeer) {
  LowRankFusion f(LowRankFusionOptions({48, 192}, 120).rank(40));
  std::map<std::string, std::vector<int64_t>> want = {{"factors.0", {40, 49, 120}},
                                                      {"factors.1", {40, 193, 120}},
                                                      {"rank_weights", {1, 40}},
                                                      {"bias", {1, 120}}};
  for (const auto& [k, shape] : want) EXPECT_EQ(fusion_param(*f, k).sizes(), shape) << k;
  EXPECT_TRUE(torch::equal(fusion_param(*f, "bias"), torch::zeros({1, 120})));
  // xavier_normal: std = sqrt(2 / (fan_in + fan_out)) with fan_in = 49*120, fan_out = 40*120.
  double want_std = std::sqrt(2.0 / (49 * 120 + 40 * 120));
  EXPECT_NEAR(fusion_param(*f, "factors.0").std().item<double>(), want_std, 0.05 * want_std);
}

TEST(GradientReversal, IdentityForwardAndMinusLambdaGradient) {
  auto x = torch::randn({3, 4}, torch::requires_grad());
  auto c = torch::randn({3, 4});
  auto y = gradient_reversal(x, 0.25);
  EXPECT_TRUE(torch::equal(y, x));
  (y * c).sum().backward();
  EXPECT_TRUE(torch::allclose(x.grad(), -0.25 * c));
}

TEST(WeightedSumFusion, WeightsSumToOneOverPresentModalities) {
  torch::manual_seed(0);
  WeightedSumFusion f(WeightedSumFusionOptions({4, 5, 6}).dim(8));
  {
    torch::NoGradGuard g;
    fusion_param(*f, "logits").copy_(torch::tensor({0.3, -1.0, 2.0}));
  }
  auto present = torch::tensor({1, 1, 1, 1, 0, 1, 0, 0, 1}, torch::kBool).reshape({3, 3});
  auto w = f->weights(present);
  EXPECT_TRUE(torch::allclose(w.sum(1), torch::ones({3})));
  EXPECT_EQ(w[1][1].item<float>(), 0.f);
  EXPECT_EQ(w[2][0].item<float>(), 0.f);
  EXPECT_NEAR(w[2][2].item<float>(), 1.f, 1e-6);
  auto full = torch::softmax(torch::tensor({0.3, -1.0, 2.0}), 0);
  EXPECT_TRUE(torch::allclose(w[0], full.to(torch::kFloat)));
  // Row 1: softmax over {0.3, 2.0} only.
  EXPECT_NEAR(w[1][0].item<double>(), std::exp(0.3) / (std::exp(0.3) + std::exp(2.0)), 1e-6);
}

TEST(CompositeFusion, OutDimIsMergeOutDimAndNamesArePrefixed) {
  auto ctx = small_context(2);
  auto f = build_fusion(
      "{type: composite, combine: [concat, {type: low_rank, rank: 2, out: 6}, adversarial], "
      "merge: {type: weighted_sum, dim: 9}}",
      ctx, 0);
  EXPECT_EQ(f->out_dim(), 9);
  EXPECT_FALSE(f->needs_tokens());
  std::set<std::string> names;
  for (const auto& p : f.module()->named_parameters()) {
    EXPECT_TRUE(names.insert(p.key()).second) << "duplicate " << p.key();
    const auto& k = p.key();
    EXPECT_TRUE(k.rfind("branch_0.", 0) == 0 || k.rfind("branch_1.", 0) == 0 ||
                k.rfind("branch_2.", 0) == 0 || k.rfind("merge.", 0) == 0)
        << k;
  }
  EXPECT_TRUE(names.count("branch_1.factors.0"));
  EXPECT_TRUE(names.count("merge.logits"));
  auto out = f->fuse(random_inputs(ctx, 3, 1));
  EXPECT_EQ(out.fused.sizes(), (std::vector<int64_t>{3, 9}));
  ASSERT_EQ(out.losses.size(), 1u);
  EXPECT_EQ(out.losses.begin()->first, "branch_2.adversarial");
  auto xattn = build_fusion("{type: composite, combine: [gated, cross_attention]}", ctx, 0);
  EXPECT_TRUE(xattn->needs_tokens());
  EXPECT_EQ(xattn->out_dim(), 64 + 2 * 64);  // default merge: concat
}

TEST(PipelineFusion, StagesRunInSequenceWithPrefixedNamesAndLosses) {
  auto ctx = small_context(3);
  auto f = build_fusion(
      "{type: pipeline, stages: [cross_attention, {type: early_concat, hidden: 8, out: 4}]}", ctx,
      0);
  EXPECT_EQ(f->out_dim(), 4);
  EXPECT_TRUE(f->needs_tokens());
  auto names = f.module()->named_parameters().keys();
  EXPECT_NE(std::find(names.begin(), names.end(), "stage_0.attn.2.in_proj_weight"), names.end());
  EXPECT_NE(std::find(names.begin(), names.end(), "stage_1.mlp.2.weight"), names.end());
  auto in = random_inputs(ctx, 2, 3);
  // Equal to running the stages by hand.
  auto children = f.module()->named_children();
  auto s0 = std::dynamic_pointer_cast<Fusion>(children["stage_0"]);
  auto s1 = std::dynamic_pointer_cast<Fusion>(children["stage_1"]);
  ASSERT_TRUE(s0 && s1);
  auto want = s1->fuse({as_pseudo_input(s0->fuse(in).fused, torch::ones({2}, torch::kBool))});
  EXPECT_TRUE(torch::allclose(f->fuse(in).fused, want.fused));
  auto cfg = ConfigNode::parse("fusion: {type: pipeline, stages: [gated, bilinear]}");
  try {
    fusion_registry().make("pipeline", ctx, cfg["fusion"]);
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("fusion.stages[1]"), std::string::npos) << e.what();
  }
}

TEST(CompositeFusion, BadBranchIsAConfigErrorNamingItsPath) {
  auto cfg = ConfigNode::parse("fusion: {type: composite, combine: [concat, {type: tensr}]}");
  try {
    fusion_registry().make("composite", small_context(2), cfg["fusion"]);
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("fusion.combine[1]"), std::string::npos) << e.what();
  }
}

TEST(LateFusion, AbsentModalityLeavesTheOtherHeadsMeanNotAZero) {
  torch::manual_seed(0);
  LateFusion f(LateFusionOptions({4, 6, 3}).hidden(5).out(2));
  auto in = pooled_inputs({torch::randn({2, 4}), torch::randn({2, 6}), torch::randn({2, 3})});
  in[1].present = torch::tensor({false, true});
  auto out = f->fuse(in).fused;
  auto head = [&](int i, int row) {
    return f->heads[i]->as<torch::nn::Sequential>()->forward(in[i].pooled.slice(0, row, row + 1));
  };
  EXPECT_TRUE(torch::allclose(out[0], ((head(0, 0) + head(2, 0)) / 2)[0], 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(out[1], ((head(0, 1) + head(1, 1) + head(2, 1)) / 3)[0], 1e-5, 1e-6));
}

TEST(FilmFusion, AbsentConditionerIsTheIdentityModulation) {
  auto ctx = small_context(2);
  auto f = build_fusion("{type: film, conditioner: audio, dim: 5}", ctx, 0);
  EXPECT_EQ(f->out_dim(), 5);
  auto in = random_inputs(ctx, 3, 2);
  auto out = f->fuse(with_absent(in, 1, {0, 1, 2})).fused;
  auto& m = *f.module();
  auto want = torch::nn::functional::linear(in[0].pooled, fusion_param(m, "proj.0.weight"),
                                            fusion_param(m, "proj.0.bias"));
  EXPECT_TRUE(torch::allclose(out, want, 1e-5, 1e-6));                 // gamma = 1, beta = 0
  EXPECT_FALSE(torch::allclose(f->fuse(in).fused, want, 1e-3, 1e-3));  // present: modulated
  EXPECT_THROW(build_fusion("{type: film, conditioner: tabular}", ctx, 0), ConfigError);
}

TEST(TransformerFusion, ModalityWithoutTokensIsOnePooledToken) {
  auto ctx = small_context(3);
  ctx.token_dims[2] = 0;
  ctx.token_counts[2] = 0;
  EXPECT_THROW(build_fusion("{type: cross_attention}", ctx, 0), ConfigError);
  auto f = build_fusion("{type: transformer, dim: 16, heads: 2}", ctx, 0);
  f.module()->eval();
  auto in = random_inputs(ctx, 3, 4);
  ASSERT_FALSE(in[2].tokens.defined());
  auto base = f->fuse(in).fused;
  EXPECT_EQ(base.sizes(), (std::vector<int64_t>{3, 16}));
  auto changed = in;
  changed[2].pooled = in[2].pooled + 1.0;
  EXPECT_FALSE(torch::allclose(f->fuse(changed).fused, base));  // the pooled token is read
  auto absent = f->fuse(with_absent(in, 2, {0})).fused;
  EXPECT_TRUE(all_finite(absent));
  EXPECT_TRUE(torch::allclose(absent.slice(0, 1), base.slice(0, 1), 1e-5, 1e-5));
}

// ---------------------------------------------------------------- parity with the Python peer

/// Runs fusion_peer_parity.py once per binary; tensors by name ("xattn/param/pos", ...). A missing
/// prerequisite skips every test (fails in strict mode); a failing script fails every test.
class PeerParity : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    missing_ = missing_peers();
    if (!missing_.empty()) return;
    dir_ = new TempDir();
    auto r =
        run_command("/usr/bin/python3 " + std::string(MMFUSE_SOURCE_DIR) +
                    "/tests/nn/fusion_peer_parity.py " + shared_dir() + "/peers " + dir_->str());
    if (r.exit_code != 0) {
      error_ =
          "fusion_peer_parity.py failed (exit " + std::to_string(r.exit_code) + "):\n" + r.output;
      return;
    }
    std::ifstream in(dir_->file("manifest.json"));
    auto manifest = nlohmann::json::parse(in);
    for (auto& [name, v] : manifest.items()) {
      auto shape = v["shape"].get<std::vector<int64_t>>();
      auto t = torch::empty(shape, torch::kFloat);
      std::ifstream f(dir_->file(v["file"].get<std::string>()), std::ios::binary);
      f.read(reinterpret_cast<char*>(t.data_ptr<float>()), t.numel() * sizeof(float));
      tensors_[name] = t;
    }
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    MMFUSE_REQUIRE(missing_);
    ASSERT_TRUE(error_.empty()) << error_;
    ASSERT_FALSE(tensors_.empty()) << "fusion_peer_parity.py wrote no tensor";
  }

  /// Copies every `<prefix>param/<peer key>` tensor into m's parameter rename(key); returns how
  /// many parameters of m were set.
  static std::size_t load(torch::nn::Module& m, const std::string& prefix,
                          const std::function<std::string(const std::string&)>& rename) {
    torch::NoGradGuard g;
    auto params = m.named_parameters();
    std::size_t n = 0;
    for (const auto& [name, t] : tensors_) {
      if (name.rfind(prefix + "param/", 0) != 0) continue;
      auto key = rename(name.substr(prefix.size() + 6));
      auto* p = params.find(key);
      EXPECT_NE(p, nullptr) << "peer key " << name << " -> " << key << " not in the module";
      if (!p) continue;
      EXPECT_EQ(p->sizes(), t.sizes()) << key;
      p->copy_(t);
      ++n;
    }
    return n;
  }

  static inline std::string missing_;  ///< a missing prerequisite ("" when all is there)
  static inline std::string error_;    ///< why the peer script failed
  static inline TempDir* dir_ = nullptr;
  static inline std::map<std::string, torch::Tensor> tensors_;
};

TEST_F(PeerParity, CrossAttentionReproducesThePeer) {
  FusionContext ctx;
  ctx.modalities = {Modality::image, Modality::audio};
  ctx.dims = {12, 48};
  ctx.token_dims = {12, 48};
  ctx.token_counts = {49, 49};
  auto f = build_fusion("{type: cross_attention, dim: 40, heads: 4}", ctx, 0);
  auto& m = *f.module();
  std::size_t n = load(m, "xattn/", CrossAttentionFusionImpl::from_peer_key);
  EXPECT_EQ(n + 2, m.named_parameters().size()) << "all but missing_0/1 come from the peer";
  m.eval();
  std::vector<nn::Encoded> in;
  for (const char* k : {"image", "audio"}) {
    auto map = tensors_.at(std::string("xattn/in/") + k);  // [B, C, 7, 7] feature maps
    nn::Encoded e;
    e.tokens = map.flatten(2).transpose(1, 2);  // [B, 49, C] like the peer
    e.pooled = e.tokens.mean(1);
    e.present = torch::ones({map.size(0)}, torch::kBool);
    in.push_back(e);
  }
  torch::NoGradGuard g;
  auto out = f->fuse(in).fused;
  auto want = tensors_.at("xattn/out");
  EXPECT_TRUE(torch::allclose(out, want, 1e-5, 1e-5))
      << "max abs diff " << (out - want).abs().max().item<double>();
}

TEST_F(PeerParity, LowRankFusionReproducesThePeer) {
  LowRankFusion f(LowRankFusionOptions({12, 20}, 16).rank(5));
  EXPECT_EQ(load(*f, "lrtf/", [](const std::string& k) { return k; }), 4u);
  torch::NoGradGuard g;
  auto out = f->fuse(pooled_inputs({tensors_.at("lrtf/in/image"), tensors_.at("lrtf/in/audio")}));
  EXPECT_TRUE(torch::allclose(out.fused, tensors_.at("lrtf/out"), 1e-5, 1e-5));
}

TEST_F(PeerParity, TensorFusionReproducesThePeer) {
  TensorFusion f(TensorFusionOptions({12, 20}));
  auto out = f->fuse(pooled_inputs({tensors_.at("tf/in/image"), tensors_.at("tf/in/audio")}));
  EXPECT_TRUE(torch::allclose(out.fused, tensors_.at("tf/out"), 1e-5, 1e-5));
}

}  // namespace
}  // namespace mmfuse::testing
