#include "mmfuse/models/summary.h"

#include <gtest/gtest.h>

#include "mmfuse/models/build.h"
#include "test_util.h"
#include "tiny_blocks.h"

namespace mmfuse::models {
namespace {

TEST(CountFlops, MatchesHandCountsForConvAndLinear) {
  torch::nn::Conv2d conv(torch::nn::Conv2dOptions(3, 5, 3).padding(1).stride(2));
  torch::nn::Linear fc(8, 4);
  torch::NoGradGuard no_grad;
  // Conv: input [2, 3, 10, 10] -> output [2, 5, 5, 5]; each output = 3 * 3 * 3 multiply-adds.
  // Linear on [2, 8] -> [2, 4]: 2 * 8 * 4 multiply-adds (addmm).
  FlopCount c = count_flops([&] {
    conv(torch::rand({2, 3, 10, 10}));
    fc(torch::rand({2, 8}));
  });
  const double conv_flops = 2.0 * (2 * 5 * 5 * 5) * (3 * 3 * 3);
  const double fc_flops = 2.0 * 2 * 8 * 4;
  EXPECT_DOUBLE_EQ(c.by_op["aten::convolution"], conv_flops);
  EXPECT_DOUBLE_EQ(c.by_op["aten::addmm"], fc_flops);
  EXPECT_DOUBLE_EQ(c.total, conv_flops + fc_flops);

  // Grouped conv: each output sees C_in / groups inputs.
  torch::nn::Conv2d grouped(torch::nn::Conv2dOptions(4, 6, 1).groups(2).bias(false));
  FlopCount g = count_flops([&] { grouped(torch::rand({1, 4, 3, 3})); });
  EXPECT_DOUBLE_EQ(g.total, 2.0 * (6 * 3 * 3) * 2);
}

TEST(CountFlops, CountsBatchedProductsOnceAndAttention) {
  torch::NoGradGuard no_grad;
  // bmm [3, 4, 5] x [3, 5, 6]: 3 * 4 * 5 * 6 multiply-adds.
  FlopCount b = count_flops([] { torch::matmul(torch::rand({3, 4, 5}), torch::rand({3, 5, 6})); });
  EXPECT_DOUBLE_EQ(b.total, 2.0 * 3 * 4 * 5 * 6);
  // Linear on a sequence [2, 7, 8] -> [2, 7, 4] counts 2*7 rows once, whatever the path.
  torch::nn::Linear fc(8, 4);
  FlopCount s = count_flops([&] { fc(torch::rand({2, 7, 8})); });
  EXPECT_DOUBLE_EQ(s.total, 2.0 * 2 * 7 * 8 * 4);
  // Multi-head attention, d = 8, 2 heads, L = S = 5, batch 1: q/k/v/out projections
  // 4 * 5 * 8 * 8, scores 5 * 5 * 8, weighted sum 5 * 5 * 8 multiply-adds.
  torch::nn::MultiheadAttention mha(torch::nn::MultiheadAttentionOptions(8, 2));
  torch::Tensor x = torch::rand({5, 1, 8});  // [L, B, d]
  FlopCount a = count_flops([&] { mha(x, x, x); });
  EXPECT_DOUBLE_EQ(a.total, 2.0 * (4 * 5 * 8 * 8 + 2 * 5 * 5 * 8));
}

TEST(Summary, ListsModulesWithParameterCountsAndFlops) {
  testing::TinyRegistries r;
  ModelInputs inputs;
  auto model = build_model_from_config(ConfigNode::parse(R"(
inputs: {image: [1, 4, 4], audio: [2, 3]}
targets: {digit: {type: class, classes: 10}}
model:
  encoders: {image: {type: tiny, dim: 3}, audio: {type: tiny, dim: 5}}
  fusion: {type: concat}
  heads: {digit: {type: tiny_linear}}
)"),
                                       r.get(), &inputs);
  ModelSummary s = summarize_model(model, inputs);
  // image 16*3+3, audio 6*5+5, placeholders 3+5, head 8*10+10.
  EXPECT_EQ(s.params, 51 + 35 + 8 + 90);
  EXPECT_EQ(s.trainable, s.params);
  auto row = [&](const std::string& path) {
    for (const auto& m : s.modules) {
      if (m.path == path) return m;
    }
    ADD_FAILURE() << "no module " << path;
    return ModuleRow{};
  };
  EXPECT_EQ(row("").type, "MultimodalModel");
  EXPECT_EQ(row("").params, s.params);
  EXPECT_EQ(row("encoders.audio").params, 35);
  EXPECT_EQ(row("encoders.audio").depth, 2);
  EXPECT_EQ(row("encoders.audio.proj").type, "Linear");
  EXPECT_EQ(row("fusion").type, "ConcatFusion");
  // One sample: three Linear layers 16x3, 6x5, 8x10.
  EXPECT_DOUBLE_EQ(s.flops.total, 2.0 * (16 * 3 + 6 * 5 + 8 * 10));
  EXPECT_TRUE(model->is_training());  // mode restored

  const std::string text = format_summary(s);
  EXPECT_NE(text.find("encoders.audio.proj"), std::string::npos) << text;
  EXPECT_NE(text.find("parameters: 184"), std::string::npos) << text;
  EXPECT_NE(text.find("forward FLOPs per sample: 316"), std::string::npos) << text;
  EXPECT_EQ(format_summary(s, 1).find("encoders.audio.proj"), std::string::npos);
}

TEST(SummaryCli, PrintsTheTreeAndMapsErrorsToExitCodes) {
  const std::string cfg = std::string(MMFUSE_SOURCE_DIR) + "/configs/avmnist/lf.yaml";
  ModelInputs inputs;
  auto model = build_model_from_config(ConfigNode::load_file(cfg), {}, &inputs);
  const int64_t params = summarize_modules(*model).params;
  auto r = testing::run_mmfuse("summary --config " + cfg + " --depth 2");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::string p = std::to_string(params);
  for (int i = int(p.size()) - 3; i > 0; i -= 3) p.insert(i, ",");
  EXPECT_NE(r.output.find("parameters: " + p), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("encoders.audio"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("forward FLOPs per sample"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("encoders.audio.net.0"), std::string::npos) << "depth 2 hides depth 3";

  EXPECT_EQ(testing::run_mmfuse("summary").exit_code, 2);  // --config is required
  auto bad = testing::run_mmfuse("summary --config " + cfg + " --set model.fusion.type=concot");
  EXPECT_EQ(bad.exit_code, 1) << bad.output;
  EXPECT_NE(bad.output.find("model.fusion: unknown fusion 'concot'; known: concat"),
            std::string::npos)
      << bad.output;
}

}  // namespace
}  // namespace mmfuse::models
