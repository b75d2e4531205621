// Conformance suite over every registered head: shape contract, gradients reach every parameter,
// seeding determinism, independent clones, save/load round trip and a batch of one. A head without
// a recipe below fails, so a new one cannot escape the suite.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "mmfuse/nn/heads/head.h"
#include "nn/conformance_util.h"
#include "nn/quant_conformance_util.h"

namespace mmfuse::heads {
namespace {

using mmfuse::testing::block_config;
using mmfuse::testing::max_abs_diff;

struct HeadRecipe {
  std::string label;
  HeadContext context;
  std::string yaml;
};

HeadContext head_context(int64_t in, int64_t out, TaskKind kind) {
  HeadContext c;
  c.in_dim = in;
  c.out_dim = out;
  c.kind = kind;
  c.target = "label";
  return c;
}

const std::map<std::string, std::vector<HeadRecipe>>& head_recipes() {
  static const std::map<std::string, std::vector<HeadRecipe>> table = {
      {"linear", {{"classes", head_context(6, 3, TaskKind::classification), ""}}},
      {"mlp",
       {{"classes", head_context(6, 3, TaskKind::classification), "hidden: 5"},
        {"dropout", head_context(6, 2, TaskKind::regression), "hidden: 5\ndropout: 0.2"}}},
      {"projection",
       {{"linear", head_context(6, 4, TaskKind::embedding), ""},
        {"mlp", head_context(6, 4, TaskKind::embedding), "hidden: 5"}}},
  };
  return table;
}

std::vector<std::string> registered_heads() {
  std::vector<std::string> names;
  for (const auto& e : head_registry().entries()) names.push_back(e.name);
  return names;
}

class HeadConformance : public ::testing::TestWithParam<std::string> {
 protected:
  static HeadBlock build(const std::string& name, const HeadRecipe& r, uint64_t seed) {
    torch::manual_seed(seed);
    return head_registry().make(name, r.context, block_config("type: " + name + "\n" + r.yaml));
  }

  static torch::Tensor input(const HeadRecipe& r, int64_t b, uint64_t seed) {
    torch::manual_seed(seed);
    return torch::randn({b, r.context.in_dim});
  }

  static torch::Tensor eval(const HeadBlock& head, const torch::Tensor& z) {
    torch::NoGradGuard no_grad;
    head.module()->eval();
    return head->predict(z);
  }

  /// Runs `check` on every recipe of this head (fails when there is none).
  void for_each_recipe(const std::function<void(const HeadRecipe&)>& check) const {
    mmfuse::testing::for_each_recipe(head_recipes(), GetParam(), __FILE__, check);
  }

  /// Runs a generic check on every recipe: the output is the prediction.
  void for_each_subject(void (*check)(const mmfuse::testing::Subject&)) const {
    const std::string name = GetParam();
    for_each_recipe([&](const HeadRecipe& r) {
      mmfuse::testing::Subject s;
      s.build = [&](uint64_t seed) { return build(name, r, seed).module(); };
      s.run = [&](const mmfuse::testing::Subject::ModulePtr& m, int64_t b, uint64_t seed) {
        return std::vector<torch::Tensor>{HeadBlock(m)->predict(input(r, b, seed))};
      };
      check(s);
    });
  }
};

TEST_P(HeadConformance, ShapeContract) {
  for_each_recipe([&](const HeadRecipe& r) {
    auto head = build(GetParam(), r, 1);
    EXPECT_EQ(head->out_dim(), r.context.out_dim);
    auto y = eval(head, input(r, 3, 2));
    EXPECT_EQ(y.sizes(), torch::IntArrayRef({3, r.context.out_dim}));
    EXPECT_TRUE(torch::isfinite(y).all().item<bool>());
    EXPECT_THROW(head->predict(torch::randn({3, r.context.in_dim + 1})), c10::Error);
  });
}

TEST_P(HeadConformance, EveryParameterGetsAGradient) {
  for_each_subject(mmfuse::testing::check_every_parameter_gets_a_gradient);
}

TEST_P(HeadConformance, SameSeedSameOutput) {
  for_each_subject(mmfuse::testing::check_same_seed_same_output);
}

TEST_P(HeadConformance, CloneIsIndependent) {
  for_each_subject(mmfuse::testing::check_clone_is_independent);
}

TEST_P(HeadConformance, SaveLoadRoundTrip) {
  for_each_subject(mmfuse::testing::check_save_load_round_trip);
}

TEST_P(HeadConformance, Int8CloseToFloat32) {
  if (mmfuse::testing::int8_stays_float().count(GetParam())) {
    GTEST_SKIP() << GetParam()
                 << " stays float: " << mmfuse::testing::int8_stays_float().at(GetParam());
  }
  for_each_subject(mmfuse::testing::check_int8_close_to_fp32);
}

TEST_P(HeadConformance, BatchOfOne) {
  for_each_recipe([&](const HeadRecipe& r) {
    auto head = build(GetParam(), r, 11);
    auto z = input(r, 3, 12);
    auto single = eval(head, z.narrow(0, 0, 1));
    EXPECT_EQ(single.sizes(), torch::IntArrayRef({1, r.context.out_dim}));
    EXPECT_LE(max_abs_diff(single, eval(head, z).narrow(0, 0, 1)), 1e-6);
  });
}

TEST(HeadConformanceTable, EveryRecipeNamesARegisteredHead) {
  for (const auto& [name, list] : head_recipes()) {
    EXPECT_NE(head_registry().find(name), nullptr) << "recipe for unknown head " << name;
  }
}

INSTANTIATE_TEST_SUITE_P(Registered, HeadConformance, ::testing::ValuesIn(registered_heads()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace mmfuse::heads
