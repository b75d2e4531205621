// Conformance suite over every registered head: shape contract, gradients reach every parameter,
// seeding determinism, independent clones, save/load round trip and a batch of one. A head without
// a recipe below fails, so a new one cannot escape the suite.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "mmfuse/nn/heads/head.h"
#include "nn/conformance_util.h"

namespace mmfuse::heads {
namespace {

using mmfuse::testing::block_config;
using mmfuse::testing::max_abs_diff;

struct Recipe {
  std::string label;
  HeadContext context;
  std::string yaml;
};

HeadContext context(int64_t in, int64_t out, TaskKind kind) {
  HeadContext c;
  c.in_dim = in;
  c.out_dim = out;
  c.kind = kind;
  c.target = "label";
  return c;
}

const std::map<std::string, std::vector<Recipe>>& recipes() {
  static const std::map<std::string, std::vector<Recipe>> table = {
      {"linear", {{"classes", context(6, 3, TaskKind::classification), ""}}},
      {"mlp",
       {{"classes", context(6, 3, TaskKind::classification), "hidden: 5"},
        {"dropout", context(6, 2, TaskKind::regression), "hidden: 5\ndropout: 0.2"}}},
      {"projection",
       {{"linear", context(6, 4, TaskKind::embedding), ""},
        {"mlp", context(6, 4, TaskKind::embedding), "hidden: 5"}}},
  };
  return table;
}

std::vector<std::string> registered_names() {
  std::vector<std::string> names;
  for (const auto& e : head_registry().entries()) names.push_back(e.name);
  return names;
}

class HeadConformance : public ::testing::TestWithParam<std::string> {
 protected:
  const std::vector<Recipe>* recipes_or_fail() {
    auto it = recipes().find(GetParam());
    if (it == recipes().end() || it->second.empty()) {
      ADD_FAILURE() << "head '" << GetParam()
                    << "' has no recipe in conformance_heads_test.cpp; add one to recipes()";
      return nullptr;
    }
    return &it->second;
  }

  static HeadBlock build(const std::string& name, const Recipe& r, uint64_t seed) {
    torch::manual_seed(seed);
    return head_registry().make(name, r.context, block_config("type: " + name + "\n" + r.yaml));
  }

  static torch::Tensor input(const Recipe& r, int64_t b, uint64_t seed) {
    torch::manual_seed(seed);
    return torch::randn({b, r.context.in_dim});
  }

  static torch::Tensor eval(const HeadBlock& head, const torch::Tensor& z) {
    torch::NoGradGuard no_grad;
    head.module()->eval();
    return head->predict(z);
  }
};

TEST_P(HeadConformance, ShapeContract) {
  auto* rs = recipes_or_fail();
  if (!rs) return;
  for (const auto& r : *rs) {
    SCOPED_TRACE(r.label);
    auto head = build(GetParam(), r, 1);
    EXPECT_EQ(head->out_dim(), r.context.out_dim);
    auto y = eval(head, input(r, 3, 2));
    EXPECT_EQ(y.sizes(), torch::IntArrayRef({3, r.context.out_dim}));
    EXPECT_TRUE(torch::isfinite(y).all().item<bool>());
    EXPECT_THROW(head->predict(torch::randn({3, r.context.in_dim + 1})), c10::Error);
  }
}

TEST_P(HeadConformance, EveryParameterGetsAGradient) {
  auto* rs = recipes_or_fail();
  if (!rs) return;
  for (const auto& r : *rs) {
    SCOPED_TRACE(r.label);
    auto head = build(GetParam(), r, 3);
    head.module()->train();
    mmfuse::testing::weighted_sum(head->predict(input(r, 4, 4))).backward();
    auto missing = mmfuse::testing::parameters_without_gradient(*head.module());
    EXPECT_TRUE(missing.empty()) << "no gradient for " << ::testing::PrintToString(missing);
  }
}

TEST_P(HeadConformance, SameSeedSameOutput) {
  auto* rs = recipes_or_fail();
  if (!rs) return;
  for (const auto& r : *rs) {
    SCOPED_TRACE(r.label);
    auto a = eval(build(GetParam(), r, 5), input(r, 3, 6));
    auto b = eval(build(GetParam(), r, 5), input(r, 3, 6));
    EXPECT_TRUE(torch::equal(a, b));
  }
}

TEST_P(HeadConformance, CloneIsIndependent) {
  auto* rs = recipes_or_fail();
  if (!rs) return;
  for (const auto& r : *rs) {
    SCOPED_TRACE(r.label);
    auto original = build(GetParam(), r, 7);
    auto z = input(r, 3, 8);
    auto before = eval(original, z);
    auto copy = original.clone();
    EXPECT_TRUE(torch::equal(eval(copy, z), before));
    EXPECT_FALSE(mmfuse::testing::shares_parameter_storage(*original.module(), *copy.module()));
    mmfuse::testing::perturb_parameters(*copy.module());
    EXPECT_TRUE(torch::equal(eval(original, z), before));
    EXPECT_GT(max_abs_diff(eval(copy, z), before), 1e-4);
  }
}

TEST_P(HeadConformance, SaveLoadRoundTrip) {
  auto* rs = recipes_or_fail();
  if (!rs) return;
  for (const auto& r : *rs) {
    SCOPED_TRACE(r.label);
    auto saved = build(GetParam(), r, 9);
    auto z = input(r, 3, 10);
    auto expected = eval(saved, z);
    auto fresh = build(GetParam(), r, 99);
    EXPECT_GT(max_abs_diff(eval(fresh, z), expected), 1e-6);
    mmfuse::testing::save_then_load(saved.module(), fresh.module());
    EXPECT_TRUE(torch::equal(eval(fresh, z), expected));
  }
}

TEST_P(HeadConformance, BatchOfOne) {
  auto* rs = recipes_or_fail();
  if (!rs) return;
  for (const auto& r : *rs) {
    SCOPED_TRACE(r.label);
    auto head = build(GetParam(), r, 11);
    auto z = input(r, 3, 12);
    auto single = eval(head, z.narrow(0, 0, 1));
    EXPECT_EQ(single.sizes(), torch::IntArrayRef({1, r.context.out_dim}));
    EXPECT_LE(max_abs_diff(single, eval(head, z).narrow(0, 0, 1)), 1e-6);
  }
}

TEST(HeadConformanceTable, EveryRecipeNamesARegisteredHead) {
  for (const auto& [name, list] : recipes()) {
    EXPECT_NE(head_registry().find(name), nullptr) << "recipe for unknown head " << name;
  }
}

INSTANTIATE_TEST_SUITE_P(Registered, HeadConformance, ::testing::ValuesIn(registered_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace mmfuse::heads
