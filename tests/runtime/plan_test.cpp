// The inference plan (runtime/plan.h) against the module path: each block with a plan compiler
// on random shapes (odd sizes, batch 1 and 40) with non-trivial BatchNorm statistics, whole
// models (the six AV-MNIST recipes and the default config), primitives reused across calls and
// batch sizes, blocks without a compiler on the module path, concurrent callers.
#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "mmfuse/core/error.h"
#include "mmfuse/models/build.h"
#include "mmfuse/nn/encoders/lenet.h"
#include "mmfuse/nn/encoders/single_channel_conv.h"
#include "mmfuse/nn/fusion/cross_attention.h"
#include "mmfuse/nn/fusion/low_rank.h"
#include "mmfuse/nn/heads/mlp.h"
#include "mmfuse/runtime/plan.h"
#include "mmfuse/runtime/plan_dnnl.h"
#include "runtime/plan_test_util.h"

namespace mmfuse::runtime {
namespace {

struct LenetCase {
  int64_t in_channels, channels, extra_blocks, h, w;
};

TEST(PlanLenet, EqualsTheModulePathOnOddShapesAndBatches) {
  const std::vector<LenetCase> cases = {{1, 6, 3, 28, 28},
                                        {1, 3, 5, 112, 112},
                                        {3, 5, 1, 13, 17},
                                        {2, 7, 0, 9, 11},
                                        {1, 4, 2, 23, 19}};
  for (const auto& c : cases) {
    auto options = encoders::LeNetOptions(c.in_channels, {c.h, c.w})
                       .channels(c.channels)
                       .extra_blocks(c.extra_blocks);
    if (c.extra_blocks == 2) options.widths({5, 9, 3});  // pruned, uneven widths
    encoders::LeNet lenet(options);
    randomize_batch_norms(*lenet, 7);
    lenet->eval();
    auto compiled = compile_lenet_plan(encoders::EncoderBlock(lenet.ptr()));
    ASSERT_TRUE(compiled);
    for (int64_t batch : {1, 3, 40}) {
      if (c.h >= 100 && batch == 40) batch = 8;  // keep the big audio map fast
      data::ModalityBatch in;
      in.data = torch::rand({batch, c.in_channels, c.h, c.w}) * 2 - 0.5;
      in.present = torch::ones({batch}, torch::kBool);
      torch::NoGradGuard no_grad;
      const nn::Encoded ref = lenet->encode(in);
      const nn::Encoded got = compiled->encode(in);
      const std::string where = "lenet " + std::to_string(c.channels) + "x" +
                                std::to_string(c.extra_blocks) + " on " + std::to_string(c.h) +
                                "x" + std::to_string(c.w) + ", batch " + std::to_string(batch);
      EXPECT_LE(plan_rel_diff(got.pooled, ref.pooled), 1e-5) << where;
      EXPECT_LE(plan_rel_diff(got.tokens, ref.tokens), 1e-5) << where;
      EXPECT_GT(ref.pooled.abs().max().item<double>(), 0.0) << where;  // not all zero
      EXPECT_TRUE(got.present.equal(in.present));
    }
  }
}

TEST(PlanMlpHead, EqualsTheModulePath) {
  for (auto [in, hidden, out, dropout] : std::vector<std::tuple<int64_t, int64_t, int64_t, double>>{
           {240, 100, 10, 0.0}, {7, 13, 3, 0.1}, {1, 1, 1, 0.0}}) {
    heads::MlpHead head(heads::MlpHeadOptions(in, out).hidden(hidden).dropout(dropout));
    head->eval();
    auto compiled = compile_mlp_head_plan(heads::HeadBlock(head.ptr()));
    ASSERT_TRUE(compiled);
    for (int64_t batch : {1, 5, 40}) {
      torch::NoGradGuard no_grad;
      const torch::Tensor z = torch::randn({batch, in});
      const torch::Tensor ref = head->predict(z);
      EXPECT_LE(plan_rel_diff(compiled->predict(z), ref), 1e-5)
          << in << "->" << hidden << "->" << out << ", batch " << batch;
    }
    EXPECT_EQ(compiled->compiled_shapes(), 4);  // pieces of 1; 4 + 1; 32 + 8
  }
}

TEST(PlanLowRank, EqualsTheModulePathWithAbsentModalities) {
  for (auto [dims, rank, out] : std::vector<std::tuple<std::vector<int64_t>, int64_t, int64_t>>{
           {{48, 192}, 40, 120}, {{7, 13, 5}, 3, 11}, {{1}, 1, 1}}) {
    torch::manual_seed(3);
    fusion::LowRankFusion module(fusion::LowRankFusionOptions(dims, out).rank(rank));
    {
      torch::NoGradGuard no_grad;
      for (auto& p : module->parameters()) p.normal_(0, 0.5);  // placeholders and bias not zero
    }
    module->eval();
    auto compiled = compile_low_rank_plan(fusion::FusionBlock(module.ptr()));
    ASSERT_TRUE(compiled);
    for (int64_t batch : {1, 5, 40}) {
      std::vector<nn::Encoded> inputs;
      for (int64_t d : dims) {
        nn::Encoded e;
        e.pooled = torch::randn({batch, d});
        e.present = torch::rand({batch}) > 0.3;  // some samples lack the modality
        inputs.push_back(e);
      }
      torch::NoGradGuard no_grad;
      const torch::Tensor ref = module->fuse(inputs).fused;
      const torch::Tensor got = compiled->fuse(inputs).fused;
      EXPECT_LE(plan_rel_diff(got, ref), 1e-5)
          << dims.size() << " inputs, rank " << rank << ", batch " << batch;
      EXPECT_GT(ref.abs().max().item<double>(), 0.0);
    }
    EXPECT_EQ(compiled->compiled_shapes(), 4);  // pieces of 1; 4 + 1; 32 + 8
  }
}

struct CrossAttentionCase {
  std::vector<int64_t> token_dims, token_counts;
  int64_t dim, heads;
  fusion::TokenPositions positions;
  int64_t fewer_tokens;  // the inputs have this many tokens fewer than the position tables
};

// Inputs of a cross-attention case: some samples lack a modality, some tokens are padding, some
// rows have no real token at all (with 2 modalities, then the other branch has no key).
std::vector<nn::Encoded> cross_attention_inputs(const CrossAttentionCase& c, int64_t batch,
                                                bool masks) {
  std::vector<nn::Encoded> inputs;
  for (std::size_t j = 0; j < c.token_dims.size(); ++j) {
    nn::Encoded e;
    e.tokens = torch::randn({batch, c.token_counts[j] - c.fewer_tokens, c.token_dims[j]});
    e.pooled = e.tokens.mean(1);
    e.present = torch::rand({batch}) > 0.25;
    if (masks) {
      e.token_mask = torch::rand({batch, e.tokens.size(1)}) > 0.3;
      e.token_mask.index_put_({torch::rand({batch}) < 0.15}, false);  // no real token
    }
    inputs.push_back(e);
  }
  return inputs;
}

TEST(PlanCrossAttention, EqualsTheModulePathWithAbsentModalitiesAndPaddedTokens) {
  using fusion::TokenPositions;
  const std::vector<CrossAttentionCase> cases = {
      {{12, 48}, {49, 49}, 40, 4, TokenPositions::shared, 0},  // the AV-MNIST xattn config
      {{7, 5, 9}, {6, 3, 4}, 12, 3, TokenPositions::per_modality, 1},
      {{5, 8}, {4, 7}, 6, 1, TokenPositions::none, 0},
      {{3, 4, 6}, {5, 5, 5}, 8, 8, TokenPositions::shared, 2},  // head size 1
      {{1, 2}, {1, 9}, 4, 2, TokenPositions::per_modality, 0}};
  for (const auto& c : cases) {
    torch::manual_seed(3);
    fusion::CrossAttentionFusion module(fusion::CrossAttentionFusionOptions(c.token_dims)
                                            .token_counts(c.token_counts)
                                            .dim(c.dim)
                                            .heads(c.heads)
                                            .positions(c.positions));
    {
      torch::NoGradGuard no_grad;
      for (auto& p : module->parameters()) p.normal_(0, 0.5);  // positions, placeholders too
    }
    module->eval();
    auto compiled = compile_cross_attention_plan(fusion::FusionBlock(module.ptr()));
    ASSERT_TRUE(compiled);
    for (int64_t batch : {1, 5, 40}) {
      for (bool masks : {false, true}) {
        const auto inputs = cross_attention_inputs(c, batch, masks);
        torch::NoGradGuard no_grad;
        const torch::Tensor ref = module->fuse(inputs).fused;
        const torch::Tensor got = compiled->fuse(inputs).fused;
        EXPECT_LE(plan_rel_diff(got, ref), 1e-5)
            << c.token_dims.size() << " inputs, d " << c.dim << ", heads " << c.heads << ", batch "
            << batch << (masks ? ", masked" : "");
        EXPECT_GT(ref.abs().max().item<double>(), 0.0);
      }
    }
    // Pieces per thread's share: 1; 4 + 1 or 2 + 1, 2; 8 x 5 or 8 + 8 + 4 (two threads).
    const int64_t built = compiled->compiled_shapes();
    EXPECT_LE(built, 4);
    for (int64_t batch : {1, 5, 40}) {
      torch::NoGradGuard no_grad;
      (void)compiled->fuse(cross_attention_inputs(c, batch, true));
    }
    EXPECT_EQ(compiled->compiled_shapes(), built);  // built once
  }
}

TEST(PlanPieces, PowersOfTwoCoverTheBatchInOrder) {
  using Pieces = std::vector<std::pair<int64_t, int64_t>>;
  EXPECT_EQ(plan_pieces(13, 8), (Pieces{{0, 8}, {8, 4}, {12, 1}}));
  EXPECT_EQ(plan_pieces(40, 41), (Pieces{{0, 32}, {32, 8}}));  // largest rounded down to 32
  EXPECT_EQ(plan_pieces(5, 2), (Pieces{{0, 2}, {2, 2}, {4, 1}}));
  EXPECT_EQ(plan_pieces(1, 0), (Pieces{{0, 1}}));
  for (int64_t batch = 1; batch <= 100; ++batch) {
    int64_t next = 0;
    for (const auto& [start, size] : plan_pieces(batch, 24)) {
      EXPECT_EQ(start, next);
      EXPECT_EQ(size & (size - 1), 0) << size;  // a power of two
      EXPECT_LE(size, 16);
      next += size;
    }
    EXPECT_EQ(next, batch);
  }
}

void expect_plan_equals_module(const InferencePlan& plan, const data::Batch& batch,
                               const std::string& where) {
  torch::NoGradGuard no_grad;
  models::MultimodalModel model = plan.model();
  const models::ModelOutput ref = model->forward(batch);
  const models::ModelOutput got = plan.forward(batch);
  ASSERT_EQ(got.outputs.size(), ref.outputs.size()) << where;
  for (const auto& [target, y] : ref.outputs) {
    EXPECT_LE(plan_rel_diff(got.outputs.at(target), y), 1e-5) << where << " " << target;
  }
}

class PlanWholeModel : public ::testing::TestWithParam<std::string> {};

TEST_P(PlanWholeModel, EqualsTheModulePathAtBatch1And40) {
  const std::string config = GetParam();
  const InferencePlan plan(plan_test_model(config));
  // Every LeNet encoder and MLP head of these configs is compiled.
  for (const auto& b : plan.blocks()) {
    if (b.block.rfind("encoders.text", 0) == 0 || b.block == "heads.value") {
      EXPECT_EQ(b.compiler, "") << b.block;  // gru, linear: no compiler yet
    } else if (b.block.rfind("encoders.", 0) == 0) {
      EXPECT_EQ(b.compiler, "lenet") << b.block;
    } else if (b.block.rfind("heads.", 0) == 0) {
      EXPECT_EQ(b.compiler, "mlp") << b.block;
    } else if (b.block == "fusion") {  // low-rank and cross attention have compilers
      EXPECT_EQ(b.compiler, config == "avmnist/lrtf.yaml"    ? "low_rank"
                            : config == "avmnist/xattn.yaml" ? "cross_attention"
                                                             : "")
          << config;
    }
  }
  EXPECT_GE(plan.compiled_blocks(), 2);
  for (int64_t batch : {1, 40}) {
    expect_plan_equals_module(plan, plan_test_batch(config, batch),
                              config + " batch " + std::to_string(batch));
  }
  // Per block at most three piece sizes (batch 1; 40 as 32 + 8, or 20 x 2 for large maps) ...
  const int64_t built = plan.compiled_shapes();
  EXPECT_LE(built, 3 * plan.compiled_blocks());
  for (int64_t batch : {1, 40}) (void)plan.forward(plan_test_batch(config, batch));
  EXPECT_EQ(plan.compiled_shapes(), built);  // ... built once
}

INSTANTIATE_TEST_SUITE_P(Configs, PlanWholeModel,
                         ::testing::Values("avmnist/image.yaml", "avmnist/audio.yaml",
                                           "avmnist/lf.yaml", "avmnist/tf.yaml",
                                           "avmnist/lrtf.yaml", "avmnist/xattn.yaml",
                                           "default.yaml"),
                         [](const auto& info) {
                           std::string n = info.param.substr(info.param.find('/') + 1);
                           return n.substr(0, n.find('.'));
                         });

// A first layer of one input channel runs mmfuse's own convolution (single_channel_conv.h) where
// oneDNN blocks its output; with the kernels off, oneDNN's primitive: the same encodings.
TEST(PlanLenet, OneInputChannelRunsTheSingleChannelKernel) {
  // 6 channels: at least a third of a block of 8 or 16 lanes (3 in 16 keep oneDNN's kernel).
  encoders::LeNet lenet(encoders::LeNetOptions(1, {28, 28}).channels(6).extra_blocks(3));
  randomize_batch_norms(*lenet, 3);
  lenet->eval();
  data::ModalityBatch in;
  in.data = torch::rand({40, 1, 28, 28});
  in.present = torch::ones({40}, torch::kBool);
  torch::NoGradGuard no_grad;
  auto encode = [&](bool kernels, std::vector<std::string>& impls) {
    encoders::set_single_channel_kernels(kernels);
    auto compiled = compile_lenet_plan(encoders::EncoderBlock(lenet.ptr()));
    auto pooled = compiled->encode(in).pooled;
    impls = compiled->implementations();
    encoders::set_single_channel_kernels(true);
    return pooled;
  };
  std::vector<std::string> mine, onednn;
  const auto with = encode(true, mine), without = encode(false, onednn);
  auto has_kernel = [](const std::vector<std::string>& impls) {
    return std::any_of(impls.begin(), impls.end(), [](const std::string& s) {
      return s.rfind("mmfuse:single_channel_conv_relu", 0) == 0;
    });
  };
  EXPECT_FALSE(has_kernel(onednn));
  const bool blocked = std::any_of(onednn.begin(), onednn.end(), [](const std::string& s) {
    return s.find("nChw8c") != std::string::npos || s.find("jit:avx") != std::string::npos;
  });
  if (blocked) EXPECT_TRUE(has_kernel(mine));
  EXPECT_LE(plan_rel_diff(with, without), 1e-5);
  EXPECT_LE(plan_rel_diff(with, lenet->encode(in).pooled), 1e-5);
}

TEST(InferencePlan, BuildsPrimitivesOncePerBatchSize) {
  const InferencePlan plan(plan_test_model("avmnist/lf.yaml"));
  ASSERT_EQ(plan.compiled_blocks(), 3);  // image, audio, head
  EXPECT_EQ(plan.compiled_shapes(), 0);  // nothing built before the first call
  const data::Batch b1 = plan_test_batch("avmnist/lf.yaml", 1);
  const data::Batch b4 = plan_test_batch("avmnist/lf.yaml", 4);
  const torch::Tensor first = plan.forward(b1).outputs.at("digit");
  EXPECT_EQ(plan.compiled_shapes(), 3);
  for (int i = 0; i < 3; ++i) (void)plan.forward(b1);
  EXPECT_EQ(plan.compiled_shapes(), 3);  // reused
  (void)plan.forward(b4);
  EXPECT_EQ(plan.compiled_shapes(), 6);  // one more batch size
  // Back to batch 1 after batch 4: the same primitives and buffers give the same logits.
  EXPECT_TRUE(plan.forward(b1).outputs.at("digit").equal(first));
  EXPECT_EQ(plan.compiled_shapes(), 6);
  std::vector<std::string> impls = plan.implementations();
  EXPECT_FALSE(impls.empty());
}

TEST(InferencePlan, EveryBatchSizeUpTo32BuildsFewPrograms) {
  const InferencePlan plan(plan_test_model("avmnist/lf.yaml"));
  for (int64_t batch = 1; batch <= 32; ++batch)
    (void)plan.forward(plan_test_batch("avmnist/lf.yaml", batch));
  // image LeNet (28x28: pieces up to 32) 1, 2, 4, 8, 16, 32; audio LeNet (112x112: pieces of 2) 1,
  // 2; mlp head 1, 2, 4, 8, 16, 32. One program per batch size would be 32 + 2 + 32.
  EXPECT_EQ(plan.compiled_shapes(), 6 + 2 + 6);
}

TEST(InferencePlan, ABatchWithoutAnEncodedModalityFailsAsTheModulePathDoes) {
  const InferencePlan plan(plan_test_model("avmnist/lf.yaml"));
  data::Batch batch = plan_test_batch("avmnist/lf.yaml", 2);
  batch.inputs[index_of(Modality::audio)].reset();  // not absent samples: no audio input at all
  torch::NoGradGuard no_grad;
  models::MultimodalModel model = plan.model();
  for (int path = 0; path < 2; ++path) {
    try {
      (void)(path == 0 ? model->forward(batch) : plan.forward(batch));
      ADD_FAILURE() << "path " << path << " accepted a batch without audio";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("the model encodes audio but the batch has no such "
                                           "input; add it to the dataset or drop "
                                           "model.encoders.audio"),
                std::string::npos)
          << e.what();
    }
  }
}

TEST(InferencePlan, BlocksWithoutACompilerKeepTheModulePath) {
  const PlanCompilers none;
  const InferencePlan bare(plan_test_model("avmnist/lf.yaml"), none);
  EXPECT_EQ(bare.compiled_blocks(), 0);
  for (const auto& b : bare.blocks()) EXPECT_EQ(b.compiler, "") << b.block;
  const data::Batch batch = plan_test_batch("avmnist/lf.yaml", 3);
  torch::NoGradGuard no_grad;
  // Entirely on the module path: exactly the module's outputs.
  models::MultimodalModel model = bare.model();
  EXPECT_TRUE(
      bare.forward(batch).outputs.at("digit").equal(model->forward(batch).outputs.at("digit")));

  PlanCompilers encoders_only;
  encoders_only.add_encoder("lenet", compile_lenet_plan);
  const InferencePlan partial(plan_test_model("avmnist/lf.yaml"), encoders_only);
  EXPECT_EQ(partial.compiled_blocks(), 2);
  EXPECT_EQ(partial.blocks().back().block, "heads.digit");
  EXPECT_EQ(partial.blocks().back().compiler, "");
  expect_plan_equals_module(partial, batch, "lf, encoders compiled only");
}

TEST(InferencePlan, RefusesAModelInTrainingMode) {
  models::MultimodalModel model = plan_test_model("avmnist/image.yaml");
  model->train();
  EXPECT_THROW(InferencePlan{model}, Error);
}

TEST(InferencePlan, ConcurrentCallersGetTheirOwnBuffers) {
  const InferencePlan plan(plan_test_model("avmnist/tf.yaml"));
  std::vector<data::Batch> batches;
  std::vector<torch::Tensor> expected;
  for (int i = 0; i < 4; ++i) {
    batches.push_back(plan_test_batch("avmnist/tf.yaml", 2));
    torch::manual_seed(100 + i);
    for (auto& in : batches.back().inputs) {
      if (in) in->data = torch::rand_like(in->data);
    }
    expected.push_back(plan.forward(batches.back()).outputs.at("digit"));
  }
  std::vector<torch::Tensor> got(4);
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&, i] {
      for (int k = 0; k < 10; ++k) got[i] = plan.forward(batches[i]).outputs.at("digit");
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(got[i].equal(expected[i])) << "caller " << i;
}

TEST(DnnlProgram, RefusesAPrimitiveWithALibraryOwnedScratchpad) {
  DnnlProgram p;
  const dnnl::eltwise_forward::desc d(dnnl::prop_kind::forward_inference,
                                      dnnl::algorithm::eltwise_relu, plan_rows_desc(2, 3), 0.F,
                                      0.F);
  const dnnl::eltwise_forward::primitive_desc shared(d, plan_engine());  // default attributes
  EXPECT_THROW(p.add_step(dnnl::eltwise_forward(shared), shared), Error);
  const dnnl::eltwise_forward::primitive_desc own(d, plan_attr(), plan_engine());
  EXPECT_NO_THROW(p.add_step(dnnl::eltwise_forward(own), own));
}

}  // namespace
}  // namespace mmfuse::runtime
