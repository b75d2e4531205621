// Text encoders: word-vector files (word2vec/GloVe text), masked pooling of the embedding
// encoder, and the embedding bag as a weighted sum of word vectors.
#include <gtest/gtest.h>

#include <fstream>

#include "mmfuse/core/error.h"
#include "mmfuse/nn/encoders/embedding.h"
#include "mmfuse/nn/encoders/embedding_bag.h"
#include "nn/conformance_util.h"
#include "test_util.h"

namespace mmfuse::encoders {
namespace {

using mmfuse::testing::block_config;
using mmfuse::testing::max_abs_diff;

const std::vector<std::string> kWords = {"<pad>", "<unk>", "cat", "dog", "bird"};

std::string write_file(const mmfuse::testing::TempDir& dir, const std::string& text) {
  std::string path = dir.file("vectors.txt");
  std::ofstream(path) << text;
  return path;
}

TEST(WordVectors, KnownTokensGetTheirVectorsOthersStay) {
  mmfuse::testing::TempDir dir;
  // word2vec header, a token outside the vocabulary, CRLF line ending, tabs.
  auto path =
      write_file(dir, "4 3\ncat 0.5 -1 2e-1\nfish 9 9 9\r\ndog\t1 2 3\r\n\nbird 0 0 -0.25\n");
  auto weight = torch::randn({5, 3});
  auto before = weight.clone();
  EXPECT_EQ(load_word_vectors(path, kWords, weight), 3);
  EXPECT_TRUE(torch::equal(weight[2], torch::tensor({0.5f, -1.0f, 0.2f})));
  EXPECT_TRUE(torch::equal(weight[3], torch::tensor({1.0f, 2.0f, 3.0f})));
  EXPECT_TRUE(torch::equal(weight[4], torch::tensor({0.0f, 0.0f, -0.25f})));
  EXPECT_TRUE(torch::equal(weight.narrow(0, 0, 2), before.narrow(0, 0, 2)));
}

TEST(WordVectors, GloveFileWithoutHeader) {
  mmfuse::testing::TempDir dir;
  auto path = write_file(dir, "dog 1 2\ncat 3 4\n");
  auto weight = torch::zeros({5, 2});
  EXPECT_EQ(load_word_vectors(path, kWords, weight), 2);
  EXPECT_TRUE(torch::equal(weight[2], torch::tensor({3.0f, 4.0f})));
}

/// The InputError message of loading `text` into a [5, 3] table.
std::string error_of(const std::string& text) {
  mmfuse::testing::TempDir dir;
  auto path = write_file(dir, text);
  auto weight = torch::zeros({5, 3});
  try {
    load_word_vectors(path, kWords, weight);
  } catch (const InputError& e) {
    EXPECT_EQ(e.file(), path);
    return e.what();
  }
  ADD_FAILURE() << "no error for:\n" << text;
  return {};
}

TEST(WordVectors, BadLinesAreNamed) {
  EXPECT_NE(error_of("cat 1 2 3\ndog 1 2\n").find("line 2: expected a token and 3 values, got 2"),
            std::string::npos);
  EXPECT_NE(error_of("2 5\ncat 1 2 3\n").find("line 1: the header announces 5-dimensional"),
            std::string::npos);
  EXPECT_NE(error_of("cat 1 2 3\n\nbird 1 x 3\n").find("line 3: 'x' is not a number"),
            std::string::npos);
  auto weight = torch::zeros({5, 3});
  EXPECT_THROW(load_word_vectors("/nonexistent/vectors.txt", kWords, weight), InputError);
}

TEST(EmbeddingEncoder, VectorsFileFromConfig) {
  mmfuse::testing::TempDir dir;
  auto path = write_file(dir, "cat 1 2 3\nbird 4 5 6\n");
  EncoderContext ctx;
  ctx.modality = Modality::text;
  ctx.input_shape = {-1};
  ctx.vocab_size = 5;
  auto cfg = block_config("type: embedding\ndim: 3\nvectors_file: " + path);
  EXPECT_THROW(encoder_registry().make("embedding", ctx, cfg), ConfigError);  // no vocabulary
  ctx.vocabulary = kWords;
  auto block = encoder_registry().make("embedding", ctx, cfg);
  torch::NoGradGuard no_grad;
  // "cat bird <pad>" of length 2: mean of the two pretrained vectors.
  auto out = block->encode({torch::tensor({{2, 4, 0}}), torch::ones({1}, torch::kBool),
                            torch::tensor({2}, torch::kInt64)});
  EXPECT_LE(max_abs_diff(out.pooled, torch::tensor({{2.5f, 3.5f, 4.5f}})), 1e-6);
  auto bad = block_config("type: embedding\ndim: 4\nvectors_file: " + path);
  EXPECT_THROW(encoder_registry().make("embedding", ctx, bad), InputError);
}

TEST(EmbeddingEncoder, PoolsOnlyValidTokens) {
  torch::manual_seed(0);
  torch::NoGradGuard no_grad;
  for (Pooling pooling : {Pooling::mean, Pooling::max, Pooling::sum}) {
    EmbeddingEncoder enc(EmbeddingEncoderOptions(6).dim(4).pooling(pooling));
    auto ids = torch::tensor({{1, 2, 3, 5}, {4, 5, 5, 5}});
    auto out = enc->encode({ids, torch::ones({2}, torch::kBool), torch::tensor({3, 1})});
    const auto& w = enc->embedding->weight;
    auto first = w.index_select(0, torch::tensor({1, 2, 3}));
    auto expected0 = pooling == Pooling::mean  ? first.mean(0)
                     : pooling == Pooling::max ? first.amax(0)
                                               : first.sum(0);
    EXPECT_LE(max_abs_diff(out.pooled[0], expected0), 1e-6) << to_string(pooling);
    EXPECT_LE(max_abs_diff(out.pooled[1], w[4]), 1e-6) << to_string(pooling);
  }
}

TEST(EmbeddingBagEncoder, IsAWeightedSumOfWordVectors) {
  torch::manual_seed(0);
  torch::NoGradGuard no_grad;
  EmbeddingBagEncoder bag(EmbeddingBagEncoderOptions(4).dim(3));
  auto counts = torch::tensor({{2.0f, 0.0f, 0.5f, 0.0f}});
  auto out = bag->encode({counts, torch::ones({1}, torch::kBool), {}});
  auto vectors = bag->proj->weight.t();  // [V, D]: the word vectors
  EXPECT_LE(max_abs_diff(out.pooled[0], 2.0 * vectors[0] + 0.5 * vectors[2]), 1e-6);
  EXPECT_FALSE(out.tokens.defined());
  bag->options.activation(Activation::relu);
  EXPECT_GE(bag->encode({counts, torch::ones({1}, torch::kBool), {}}).pooled.min().item<float>(),
            0.0f);
}

}  // namespace
}  // namespace mmfuse::encoders
