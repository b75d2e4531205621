// YAMNet: the front end (data/audio/yamnet_frontend.h) and the encoder against PyTorch on the real
// pretrained weights (../shared/pretrained, reference.py export-io): patches from the same
// waveform, per-patch embeddings and AudioSet scores; plus the patching arithmetic by hand.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "mmfuse/core/safetensors.h"
#include "mmfuse/data/audio/yamnet_frontend.h"
#include "mmfuse/nn/encoders/pretrained.h"
#include "mmfuse/nn/encoders/yamnet.h"
#include "nn/conformance_util.h"
#include "pretrained_io.h"

namespace mmfuse::encoders {
namespace {

using mmfuse::testing::max_abs_diff;

TEST(YamnetEncoder, PatchesAndMeanOverEachClipsPatches) {
  Yamnet net(YamnetOptions(2).patch_frames(4).patch_hop(2).width(0.25));
  // 9 frames of 2 bands, frame t = (t, -t): patches start at 0, 2, 4 (1 + (9 - 4) / 2 = 3).
  auto t = torch::arange(9, torch::kFloat);
  auto frames = torch::stack({t, -t}, 1).unsqueeze(0);
  auto p = net->patches(frames);
  ASSERT_EQ(p.sizes(), torch::IntArrayRef({1, 3, 4, 2}));
  EXPECT_FLOAT_EQ(p[0][2][0][0].item<float>(), 4);
  EXPECT_FLOAT_EQ(p[0][2][3][1].item<float>(), -7);
  // A clip shorter than a patch is zero-padded to one.
  EXPECT_EQ(net->patches(frames.narrow(1, 0, 3)).sizes(), torch::IntArrayRef({1, 1, 4, 2}));
  // In a padded batch, the second clip (6 valid frames: 2 patches) is the mean of its own
  // patches' embeddings, not of the padding's.
  torch::NoGradGuard no_grad;
  auto batch = torch::cat({frames, frames * 0.5}).contiguous();
  batch[1].narrow(0, 6, 3).zero_();
  const auto out = net->encode({batch, torch::ones({2}, torch::kBool), torch::tensor({9, 6})});
  const auto emb = net->embed_patches(net->patches(batch)[1].unsqueeze(1));
  EXPECT_LE(max_abs_diff(out.pooled[1], emb.narrow(0, 0, 2).mean(0)), 1e-6);
  EXPECT_LE(max_abs_diff(out.pooled[0], net->embed_patches(p[0].unsqueeze(1)).mean(0)), 1e-6);
  EXPECT_TRUE(
      torch::equal(out.token_mask, torch::tensor({{true, true, true}, {true, true, false}})));
}

TEST(YamnetEncoder, PretrainedParityWithReferenceFrontEndEmbeddingsAndScores) {
  MMFUSE_REQUIRE(mmfuse::testing::missing_pretrained_reference());
  const std::string dir = mmfuse::testing::pretrained_dir();
  const std::string file = dir + "/yamnet_audioset.safetensors";
  const auto wave = mmfuse::testing::reference_tensor("yamnet.waveform");
  const auto frames = data::audio::yamnet_log_mel(wave, data::audio::load_yamnet_mel_matrix(file));

  EncoderContext ctx;
  ctx.modality = Modality::audio;
  ctx.input_shape = {-1, 64};
  auto cfg = mmfuse::testing::block_config("type: yamnet\npretrained: {file: " + file +
                                           ", exclude: [fc., frontend.]}");
  EncoderBlock block = make_encoder(ctx, cfg);
  auto* net = block.module()->as<YamnetImpl>();
  ASSERT_NE(net, nullptr);
  net->eval();
  torch::NoGradGuard no_grad;
  const auto patches = net->patches(frames.unsqueeze(0))[0].unsqueeze(1);  // [P, 1, 96, 64]
  const auto ref_patches = mmfuse::testing::reference_tensor("yamnet.patches");
  const auto emb = net->embed_patches(patches);
  const auto weights = load_safetensors(file).tensors;
  const auto scores =
      torch::sigmoid(torch::linear(emb, weights.at("fc.weight"), weights.at("fc.bias")));
  const double d_patches = max_abs_diff(patches, ref_patches);
  const double d_emb = max_abs_diff(emb, mmfuse::testing::reference_tensor("yamnet.embeddings"));
  const double d_scores = max_abs_diff(scores, mmfuse::testing::reference_tensor("yamnet.scores"));
  std::cout << "yamnet: " << patches.size(0) << " patches; max |diff| patches " << d_patches
            << ", embeddings " << d_emb << ", scores " << d_scores << "\n";
  EXPECT_LE(d_patches, 1e-4);
  EXPECT_LE(d_emb, 1e-4);
  EXPECT_LE(d_scores, 1e-4);
  // The clip's embedding is the mean over its patches, and its top class is "Speech".
  const auto pooled = net->encode({frames.unsqueeze(0), torch::ones({1}, torch::kBool), {}}).pooled;
  EXPECT_LE(max_abs_diff(pooled[0], emb.mean(0)), 1e-5);
  std::ifstream names_file(dir + "/yamnet_audioset_classes.txt");
  std::vector<std::string> names;
  for (std::string line; std::getline(names_file, line);) names.push_back(line);
  EXPECT_EQ(names.at(scores.mean(0).argmax().item<int64_t>()), "Speech");
}

}  // namespace
}  // namespace mmfuse::encoders
