#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "mmfuse/core/error.h"
#include "mmfuse/data/pipeline_registry.h"
#include "mmfuse/data/tabular/tabular_pipeline.h"
#include "test_util.h"

namespace mmfuse::data::tabular {
namespace {

using Row = std::vector<float>;

std::shared_ptr<TabularPipeline> make_tabular(const std::string& yaml) {
  return TabularPipeline::create({}, ConfigNode::parse(yaml, "tabular"));
}

void fit_tabular(TabularPipeline& p, const std::vector<Row>& rows) {
  std::vector<Field> fields(rows.begin(), rows.end());
  p.fit({fields.size(), [&](std::size_t i) -> const Field& { return fields[i]; },
         [&](std::size_t i) { return p.extract(fields[i]); }});
}

std::string reason_of(const TabularPipeline& p, const Row& row) {
  try {
    p.extract(Field{row});
  } catch (const InputError& e) {
    return e.reason();
  }
  return "no error";
}

TEST(TabularPipeline, StandardizesWithTrainingMeanAndStd) {
  auto p = make_tabular("{}");
  fit_tabular(*p, {{1, 10, 5}, {3, 10, 7}, {5, 10, 9}});
  // mean [3, 10, 7]; population std [sqrt(8/3), 0 -> 1, sqrt(8/3)]
  EXPECT_EQ(p->dim(), 3);
  EXPECT_EQ(p->item_shape(), (std::vector<int64_t>{3}));
  const float s = std::sqrt(8.f / 3.f);
  EXPECT_TRUE(torch::allclose(p->mean(), torch::tensor({3.f, 10.f, 7.f})));
  EXPECT_TRUE(torch::allclose(p->stddev(), torch::tensor({s, 1.f, s})));
  auto y = p->finalize(p->extract(Field{Row{5, 12, 4}}));
  EXPECT_TRUE(torch::allclose(y, torch::tensor({2.f / s, 2.f, -3.f / s}), 1e-6, 1e-6)) << y;
}

TEST(TabularPipeline, RejectsNonFiniteValuesAndWrongDimension) {
  auto p = make_tabular("dim: 3");
  EXPECT_EQ(p->item_shape(), (std::vector<int64_t>{3}));
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(reason_of(*p, {1, 2, nan}).rfind("value 2 is NaN", 0), 0u)
      << reason_of(*p, {1, 2, nan});
  EXPECT_EQ(reason_of(*p, {-inf, 2, 3}).rfind("value 0 is -Inf", 0), 0u);
  EXPECT_EQ(reason_of(*p, {1, 2}).rfind("expected 3 values, got 2", 0), 0u);
  EXPECT_EQ(reason_of(*p, {1, 2, 3}), "no error");
  EXPECT_THROW(p->extract(Field{std::string("1,2,3")}), InputError);

  auto fitted = make_tabular("{}");  // dimension taken from the training split
  EXPECT_EQ(fitted->item_shape(), (std::vector<int64_t>{-1}));
  EXPECT_THROW(fit_tabular(*fitted, {{1, 2}, {1, 2, 3}}), InputError);
  fit_tabular(*fitted, {{1, 2}, {3, 4}});
  EXPECT_EQ(reason_of(*fitted, {1, 2, 3}).rfind("expected 2 values, got 3", 0), 0u);
}

TEST(TabularPipeline, StateRoundTripReproducesFinalize) {
  auto p = make_tabular("augment: {noise_std: 0.5}");
  fit_tabular(*p, {{0, 100}, {2, 300}, {4, 200}});
  auto restored = make_tabular("augment: {noise_std: 0.5}");
  EXPECT_THROW(restored->finalize(torch::zeros({2})), Error);
  restored->load_state(nlohmann::json::parse(p->state().dump()));
  EXPECT_EQ(restored->dim(), 2);
  const Row row = {1, 250};
  EXPECT_TRUE(torch::equal(restored->finalize(restored->extract(Field{row})),
                           p->finalize(p->extract(Field{row}))));
  EXPECT_THROW(make_tabular("dim: 5")->load_state(p->state()), Error);
}

TEST(TabularAugment, NoiseIsSeededAndScaledByFeatureStd) {
  auto p = make_tabular("augment: {noise_std: 0.1}");
  // Feature 0 has std 1, feature 1 std 1000.
  fit_tabular(*p, {{-1, -1000}, {1, 1000}});
  const auto x = torch::tensor({0.f, 0.f});
  Rng a(1), b(1), c(2);
  const auto xa = p->augment(Field{}, x, a);
  EXPECT_TRUE(torch::equal(xa, p->augment(Field{}, x, b)));
  EXPECT_FALSE(torch::equal(xa, p->augment(Field{}, x, c)));
  // Over many draws the standardized noise has std 0.1 on both features.
  Rng rng(3);
  std::vector<torch::Tensor> draws;
  for (int i = 0; i < 4000; ++i) draws.push_back(p->finalize(p->augment(Field{}, x, rng)));
  const auto sd = torch::stack(draws).std(0);
  EXPECT_NEAR(sd[0].item<float>(), 0.1f, 0.01f);
  EXPECT_NEAR(sd[1].item<float>(), 0.1f, 0.01f);
}

TEST(TabularPipeline, ConfigErrorsAndRegistry) {
  EXPECT_THROW(make_tabular("dim: -1"), ConfigError);
  EXPECT_THROW(make_tabular("augment: {noise: 0.1}"), ConfigError);
  EXPECT_THROW(make_tabular("dims: 3"), ConfigError);
  auto p = pipeline_registry().create("tabular", {}, ConfigNode::parse("dim: 4"));
  EXPECT_EQ(p->modality(), Modality::tabular);
  EXPECT_EQ(p->item_shape(), (std::vector<int64_t>{4}));
}

}  // namespace
}  // namespace mmfuse::data::tabular
