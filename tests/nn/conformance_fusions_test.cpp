// Conformance suite over every entry of fusion_registry() (dlib-style): a newly registered fusion
// is covered by registering it. Each entry is built from `{type: <name>}` unless special_configs()
// holds a config for it; an entry that cannot be built from either FAILS (it never skips).
// Run for 2 and 3 modalities with different token counts/sizes and padded tokens.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <tuple>

#include "fusion_test_util.h"
#include "nn/quant_conformance_util.h"
#include "test_util.h"

namespace mmfuse::testing {
namespace {

using fusion::FusionBlock;
using fusion::FusionOutput;

/// Configs for the entries that `{type: <name>}` cannot build.
const std::map<std::string, std::string>& special_configs() {
  static const std::map<std::string, std::string> table = {
      {"composite",
       "{type: composite, combine: [concat, {type: low_rank, rank: 3, out: 8}, "
       "{type: cross_attention, dim: 8, heads: 2}, {type: adversarial, dim: 8}], merge: gated}"},
      {"pipeline",
       "{type: pipeline, stages: [{type: adversarial, dim: 8}, {type: early_concat, hidden: 8, "
       "out: 6}, {type: late, hidden: 4, out: 5}]}"},
  };
  return table;
}

std::string config_for(const std::string& name) {
  auto it = special_configs().find(name);
  return it != special_configs().end() ? it->second : "{type: " + name + "}";
}

constexpr int64_t kBatch = 4;

class FusionConformance : public ::testing::TestWithParam<std::tuple<std::string, int>> {
 protected:
  void SetUp() override {
    name_ = std::get<0>(GetParam());
    ctx_ = small_context(std::get<1>(GetParam()));
    inputs_ = random_inputs(ctx_, kBatch, 1);
  }

  /// Builds the fusion; a failure names the missing special config.
  FusionBlock build(uint64_t seed) {
    try {
      return build_fusion(config_for(name_), ctx_, seed);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "fusion '" << name_ << "' cannot be built from '" << config_for(name_)
                    << "': " << e.what() << "\nIf it needs options, add them to special_configs().";
      return {};
    }
  }

  FusionOutput run(const FusionBlock& f, const std::vector<nn::Encoded>& in, bool train) {
    f.module()->train(train);
    return f->fuse(in);
  }

  /// inputs_ with no modality in sample 0 and modality m absent from sample m + 1 (as far as the
  /// batch goes), so that placeholders (all that concat and tensor fusion learn) reach the output.
  std::vector<nn::Encoded> inputs_with_absences() const {
    auto in = inputs_;
    for (std::size_t m = 0; m < ctx_.size(); ++m) {
      std::vector<int64_t> rows = {0};
      if (static_cast<int64_t>(m) + 1 < kBatch) rows.push_back(static_cast<int64_t>(m) + 1);
      in = with_absent(in, m, rows);
    }
    return in;
  }

  /// Backward of a loss that is non-degenerate at zero (random probe + square + extra losses);
  /// returns the names of the parameters that received a non-zero gradient.
  std::set<std::string> params_with_gradient(const FusionBlock& f,
                                             const std::vector<nn::Encoded>& in) {
    f.module()->zero_grad();
    auto out = run(f, in, /*train=*/true);
    torch::manual_seed(5);
    auto loss = (out.fused * torch::randn(out.fused.sizes())).sum() + out.fused.square().sum();
    for (const auto& [k, l] : out.losses) loss = loss + l;
    loss.backward();
    std::set<std::string> got;
    for (const auto& p : f.module()->named_parameters()) {
      const auto& g = p.value().grad();
      EXPECT_TRUE(!g.defined() || all_finite(g)) << "non-finite gradient in '" << p.key() << "'";
      if (g.defined() && g.abs().sum().item<double>() > 0) {
        got.insert(p.key());
      }
    }
    return got;
  }

  std::string name_;
  fusion::FusionContext ctx_;
  std::vector<nn::Encoded> inputs_;
};

TEST_P(FusionConformance, OutputShapeIsBatchByOutDimAndFinite) {
  auto f = build(1);
  ASSERT_TRUE(f);
  for (bool train : {true, false}) {
    auto out = run(f, inputs_, train);
    ASSERT_TRUE(out.fused.defined());
    EXPECT_EQ(out.fused.sizes(), (std::vector<int64_t>{kBatch, f->out_dim()}));
    EXPECT_TRUE(all_finite(out)) << "train=" << train;
    for (const auto& [k, l] : out.losses) EXPECT_EQ(l.dim(), 0) << "loss " << k << " not scalar";
  }
}

TEST_P(FusionConformance, EveryParameterGetsAGradient) {
  auto f = build(1);
  ASSERT_TRUE(f);
  auto got = params_with_gradient(f, inputs_);
  // Placeholders only matter when a modality is absent: checked in absent-modality passes.
  auto none = inputs_;  // sample 0 without any modality (reaches e.g. a composite's merge
                        // placeholders)
  for (std::size_t m = 0; m < ctx_.size(); ++m) {
    auto more = params_with_gradient(f, with_absent(inputs_, m, {0, 2}));
    got.insert(more.begin(), more.end());
    none = with_absent(none, m, {0});
  }
  auto more = params_with_gradient(f, none);
  got.insert(more.begin(), more.end());
  for (const auto& p : f.module()->named_parameters()) {
    EXPECT_TRUE(got.count(p.key())) << "parameter '" << p.key() << "' never gets a gradient";
  }
}

TEST_P(FusionConformance, SameSeedSameOutput) {
  auto a = build(7), b = build(7);
  ASSERT_TRUE(a && b);
  EXPECT_TRUE(torch::equal(run(a, inputs_, false).fused, run(b, inputs_, false).fused));
}

TEST_P(FusionConformance, CloneIsIndependent) {
  auto a = build(3);
  ASSERT_TRUE(a);
  // Modality 0 absent in sample 0, so placeholder-only fusions (concat, tensor) show changes too.
  auto in = with_absent(inputs_, 0, {0});
  auto before = run(a, in, false).fused;
  auto b = a.clone();
  ASSERT_TRUE(torch::equal(run(b, in, false).fused, before));
  auto pa = a.module()->named_parameters(), pb = b.module()->named_parameters();
  ASSERT_EQ(pa.keys(), pb.keys());
  {
    torch::NoGradGuard no_grad;
    for (auto& p : pb) p.value().add_(0.5);
  }
  for (const auto& p : pa) {
    EXPECT_NE(p.value().data_ptr(), pb[p.key()].data_ptr()) << p.key() << " is shared";
  }
  EXPECT_TRUE(torch::equal(run(a, in, false).fused, before));
  EXPECT_FALSE(torch::equal(run(b, in, false).fused, before));
}

TEST_P(FusionConformance, Int8CloseToFloat32) {
  if (mmfuse::testing::int8_stays_float().count(name_)) {
    GTEST_SKIP() << name_ << " stays float: " << mmfuse::testing::int8_stays_float().at(name_);
  }
  Subject s;
  s.build = [&](uint64_t seed) { return build(seed).module(); };
  s.run = [&](const Subject::ModulePtr& m, int64_t b, uint64_t seed) {
    return std::vector<torch::Tensor>{FusionBlock(m)->fuse(random_inputs(ctx_, b, seed)).fused};
  };
  check_int8_close_to_fp32(s);
}

TEST_P(FusionConformance, SaveLoadRoundTrip) {
  auto a = build(11);
  ASSERT_TRUE(a);
  const auto in = inputs_with_absences();
  // Every parameter moved off its initial value (placeholders start at a constant whatever the
  // seed), and train-mode passes for any running statistics.
  {
    torch::NoGradGuard no_grad;
    torch::manual_seed(13);
    for (auto& p : a.module()->parameters()) p.add_(torch::randn_like(p) * 0.5);
    for (int i = 0; i < 2; ++i) run(a, in, /*train=*/true);
  }
  const auto expected = run(a, in, false).fused;
  auto b = build(12);
  ASSERT_TRUE(b);
  if (!a.module()->parameters().empty()) {
    ASSERT_FALSE(torch::allclose(run(b, in, false).fused, expected, 1e-6, 1e-6))
        << "a fresh block (another seed) gives the saved block's output: the round trip would "
           "show nothing";
  }
  TempDir dir;
  {
    torch::serialize::OutputArchive archive;
    a.module()->save(archive);
    archive.save_to(dir.file("fusion.pt"));
  }
  {
    torch::serialize::InputArchive archive;
    archive.load_from(dir.file("fusion.pt"));
    b.module()->load(archive);
  }
  EXPECT_TRUE(torch::equal(run(b, in, false).fused, expected));
  // Every parameter and buffer, whether or not it reaches this output.
  auto pb = b.module()->named_parameters();
  for (const auto& p : a.module()->named_parameters()) {
    ASSERT_NE(pb.find(p.key()), nullptr) << p.key();
    EXPECT_TRUE(torch::equal(p.value(), pb[p.key()])) << p.key() << " was not loaded";
  }
  auto bb = b.module()->named_buffers();
  for (const auto& p : a.module()->named_buffers()) {
    ASSERT_NE(bb.find(p.key()), nullptr) << p.key();
    EXPECT_TRUE(torch::equal(p.value(), bb[p.key()])) << p.key() << " was not loaded";
  }
}

TEST_P(FusionConformance, EachModalityMissingInTurnGivesFiniteOutputs) {
  auto f = build(1);
  ASSERT_TRUE(f);
  for (std::size_t m = 0; m < ctx_.size(); ++m) {
    auto in = with_absent(inputs_, m, {0, 3});
    for (bool train : {true, false}) {
      auto out = run(f, in, train);
      EXPECT_EQ(out.fused.sizes(), (std::vector<int64_t>{kBatch, f->out_dim()}));
      EXPECT_TRUE(all_finite(out)) << "modality " << m << " absent, train=" << train;
    }
  }
  // Sample 0 with no modality at all, sample 1 with only the last one.
  auto in = inputs_;
  for (std::size_t m = 0; m < ctx_.size(); ++m) {
    in = with_absent(in, m,
                     m + 1 < ctx_.size() ? std::vector<int64_t>{0, 1} : std::vector<int64_t>{0});
  }
  EXPECT_TRUE(all_finite(run(f, in, false)));
}

TEST_P(FusionConformance, PresentSampleUnchangedWhenAnotherLosesAModality) {
  auto f = build(1);
  ASSERT_TRUE(f);
  auto base = run(f, inputs_, false).fused;
  for (std::size_t m = 0; m < ctx_.size(); ++m) {
    auto out = run(f, with_absent(inputs_, m, {0}), false).fused;
    EXPECT_TRUE(torch::allclose(out.slice(0, 1), base.slice(0, 1), 1e-5, 1e-5))
        << "modality " << m << " removed from sample 0 changed samples 1..";
    EXPECT_FALSE(torch::allclose(out[0], base[0], 1e-5, 1e-5))
        << "removing modality " << m << " from sample 0 had no effect on it";
  }
}

TEST_P(FusionConformance, AbsentModalityContentIsIgnored) {
  auto f = build(1);
  ASSERT_TRUE(f);
  for (std::size_t m = 0; m < ctx_.size(); ++m) {
    auto a = run(f, with_absent(inputs_, m, {0}, 1.0, 1), false).fused;
    auto b = run(f, with_absent(inputs_, m, {0}, 1000.0, 2), false).fused;
    EXPECT_TRUE(torch::allclose(a, b, 1e-5, 1e-5))
        << "the content of absent modality " << m << " leaked into the output";
  }
}

std::vector<std::string> registered_fusions() {
  std::vector<std::string> names;
  for (const auto& e : fusion::fusion_registry().entries()) names.push_back(e.name);
  return names;
}

INSTANTIATE_TEST_SUITE_P(AllFusions, FusionConformance,
                         ::testing::Combine(::testing::ValuesIn(registered_fusions()),
                                            ::testing::Values(2, 3)),
                         [](const ::testing::TestParamInfo<std::tuple<std::string, int>>& info) {
                           return std::get<0>(info.param) + "_" +
                                  std::to_string(std::get<1>(info.param)) + "mod";
                         });

TEST(FusionRegistry, HasTheZooWithDescriptionsAndOnlyKnownSpecialConfigs) {
  const auto& reg = fusion::fusion_registry();
  EXPECT_GE(reg.entries().size(), 15u) << reg.known_names();
  for (const auto& e : reg.entries()) EXPECT_FALSE(e.description.empty()) << e.name;
  for (const auto& [name, cfg] : special_configs()) {
    EXPECT_NE(reg.find(name), nullptr) << "special config for unregistered '" << name << "'";
  }
}

TEST(FusionRegistry, TypoInAnOptionIsAConfigErrorNamingThePath) {
  auto cfg = ConfigNode::parse("fusion: {type: low_rank, rnak: 4}");
  try {
    fusion::fusion_registry().make("low_rank", small_context(2), cfg["fusion"]);
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("fusion.rnak"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mmfuse::testing
