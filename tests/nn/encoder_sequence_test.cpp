// Padding never leaks into the sequence encoders (lstm, gru, transformer): the same sequences
// padded to a longer T, with garbage in the padding, give the same pooled vectors and valid
// tokens, and equal each sample encoded alone at its own length.
#include <gtest/gtest.h>

#include <cctype>
#include <string>

#include "mmfuse/nn/encoders/encoder.h"
#include "nn/conformance_util.h"

namespace mmfuse::encoders {
namespace {

using mmfuse::testing::block_config;
using mmfuse::testing::max_abs_diff;

constexpr int64_t kVocab = 17, kFeatures = 4;

struct Case {
  std::string type;
  std::string yaml;
  bool ids;  ///< token ids (else frames)
};

void PrintTo(const Case& c, std::ostream* os) {
  *os << c.type << (c.ids ? " on token ids: " : " on frames: ") << c.yaml;
}

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  std::string name = info.param.type + "_" + (info.param.ids ? "ids" : "frames");
  for (char c : info.param.yaml) name += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return name;
}

class PaddingInvariance : public ::testing::TestWithParam<Case> {
 protected:
  EncoderBlock build() const {
    EncoderContext ctx;
    ctx.modality = GetParam().ids ? Modality::text : Modality::audio;
    ctx.input_shape =
        GetParam().ids ? std::vector<int64_t>{-1} : std::vector<int64_t>{-1, kFeatures};
    ctx.vocab_size = GetParam().ids ? kVocab : 0;
    torch::manual_seed(0);
    auto block = encoder_registry().make(
        GetParam().type, ctx, block_config("type: " + GetParam().type + "\n" + GetParam().yaml));
    block.module()->eval();
    return block;
  }

  /// [B, t] (ids) or [B, t, F] (frames): random values everywhere, including past the lengths.
  data::ModalityBatch batch(const torch::Tensor& lengths, int64_t t) const {
    int64_t b = lengths.size(0);
    auto data = GetParam().ids ? torch::randint(0, kVocab, {b, t}, torch::kInt64)
                               : torch::randn({b, t, kFeatures});
    return {data, torch::ones({b}, torch::kBool), lengths};
  }
};

TEST_P(PaddingInvariance, LongerPaddingChangesNothing) {
  torch::NoGradGuard no_grad;
  auto block = build();
  auto lengths = torch::tensor({5, 2, 1, 4}, torch::kInt64);
  torch::manual_seed(1);
  auto short_batch = batch(lengths, 5);
  auto long_batch = batch(lengths, 9);  // same valid steps, 4 more steps of other garbage
  long_batch.data.narrow(1, 0, 5).copy_(short_batch.data);
  auto a = block->encode(short_batch);
  auto b = block->encode(long_batch);
  EXPECT_LE(max_abs_diff(a.pooled, b.pooled), 1e-5);
  EXPECT_LE(max_abs_diff(a.tokens, b.tokens.narrow(1, 0, 5)), 1e-5);
  EXPECT_TRUE(torch::equal(a.token_mask, b.token_mask.narrow(1, 0, 5)));
  EXPECT_FALSE(b.token_mask.narrow(1, 5, 4).any().item<bool>());
  // Padded token positions carry no information.
  EXPECT_EQ(b.tokens.masked_select(~b.token_mask.unsqueeze(2)).abs().max().item<float>(), 0.0f);

  // Each sample alone, unpadded, gives its row of the padded batch.
  for (int64_t i = 0; i < lengths.size(0); ++i) {
    int64_t len = lengths[i].item<int64_t>();
    data::ModalityBatch one{short_batch.data.narrow(0, i, 1).narrow(1, 0, len),
                            torch::ones({1}, torch::kBool), torch::Tensor()};
    auto alone = block->encode(one);
    EXPECT_LE(max_abs_diff(alone.pooled, a.pooled.narrow(0, i, 1)), 1e-5) << "sample " << i;
    EXPECT_LE(max_abs_diff(alone.tokens, a.tokens.narrow(0, i, 1).narrow(1, 0, len)), 1e-5);
  }
  // The pooled vector depends on the valid steps.
  EXPECT_GT(max_abs_diff(a.pooled.narrow(0, 0, 1), a.pooled.narrow(0, 1, 1)), 1e-4);
}

INSTANTIATE_TEST_SUITE_P(
    Rnn, PaddingInvariance,
    ::testing::Values(
        Case{"lstm", "hidden_size: 6", false},
        Case{"lstm", "hidden_size: 6\nbidirectional: true", false},
        Case{"lstm", "hidden_size: 6\npooling: mean", true},
        Case{"lstm", "hidden_size: 5\nbidirectional: true\npooling: mean\nnum_layers: 2", true},
        Case{"gru", "hidden_size: 6", true},
        Case{"gru", "hidden_size: 6\nbidirectional: true", true},
        Case{"gru", "hidden_size: 6\npooling: mean", false},
        Case{"gru", "hidden_size: 6\nbidirectional: true\npooling: mean", false}),
    case_name);

INSTANTIATE_TEST_SUITE_P(
    Transformer, PaddingInvariance,
    ::testing::Values(Case{"transformer", "d_model: 8\nheads: 2\nlayers: 2\nff_dim: 16", true},
                      Case{"transformer", "d_model: 8\nheads: 2\npooling: mean", false},
                      Case{"transformer", "d_model: 8\nheads: 4\npositions: sinusoidal", false},
                      Case{"transformer",
                           "d_model: 8\nheads: 2\npositions: sinusoidal\npooling: mean", true}),
    case_name);

/// Runs `type` on frames with the given options and returns the encoder and an encoding.
struct RnnRun {
  EncoderBlock block;
  data::ModalityBatch input;
  nn::Encoded out;
};

RnnRun run_rnn(const std::string& type, const std::string& yaml) {
  EncoderContext ctx;
  ctx.input_shape = {-1, kFeatures};
  torch::manual_seed(3);
  auto block = encoder_registry().make(type, ctx, block_config("type: " + type + "\n" + yaml));
  block.module()->eval();
  data::ModalityBatch x{torch::randn({3, 6, kFeatures}), torch::ones({3}, torch::kBool),
                        torch::tensor({6, 3, 1}, torch::kInt64)};
  torch::NoGradGuard no_grad;
  auto out = block->encode(x);
  return {block, x, out};
}

TEST(RnnEncoder, LastPoolingTakesTheTrueLastStep) {
  for (std::string type : {"lstm", "gru"}) {
    auto r = run_rnn(type, "hidden_size: 5");
    for (int64_t i = 0; i < 3; ++i) {
      int64_t last = r.input.lengths[i].item<int64_t>() - 1;
      EXPECT_LE(max_abs_diff(r.out.pooled[i], r.out.tokens[i][last]), 1e-6) << type;
    }
  }
}

TEST(RnnEncoder, BidirectionalLastIsForwardLastAndBackwardFirst) {
  for (std::string type : {"lstm", "gru"}) {
    auto r = run_rnn(type, "hidden_size: 5\nbidirectional: true");
    ASSERT_EQ(r.block->out_dim(), 10);
    for (int64_t i = 0; i < 3; ++i) {
      int64_t last = r.input.lengths[i].item<int64_t>() - 1;
      auto expected =
          torch::cat({r.out.tokens[i][last].narrow(0, 0, 5), r.out.tokens[i][0].narrow(0, 5, 5)});
      EXPECT_LE(max_abs_diff(r.out.pooled[i], expected), 1e-6) << type;
    }
  }
}

TEST(RnnEncoder, MeanPoolingAveragesValidSteps) {
  auto r = run_rnn("gru", "hidden_size: 5\npooling: mean");
  for (int64_t i = 0; i < 3; ++i) {
    int64_t len = r.input.lengths[i].item<int64_t>();
    EXPECT_LE(max_abs_diff(r.out.pooled[i], r.out.tokens[i].narrow(0, 0, len).mean(0)), 1e-6);
  }
}

TEST(RnnEncoder, SpectrogramIsReadAsFramesOfFrequencies) {
  EncoderContext spec_ctx, frame_ctx;
  spec_ctx.input_shape = {1, kFeatures, 7};
  frame_ctx.input_shape = {7, kFeatures};
  auto cfg = block_config("type: lstm\nhidden_size: 4");
  torch::manual_seed(5);
  auto spec = encoder_registry().make("lstm", spec_ctx, cfg);
  torch::manual_seed(5);
  auto frames = encoder_registry().make("lstm", frame_ctx, cfg);
  auto x = torch::randn({2, 1, kFeatures, 7});
  torch::NoGradGuard no_grad;
  auto a = spec->encode({x, torch::ones({2}, torch::kBool), {}});
  auto b = frames->encode({x.squeeze(1).transpose(1, 2), torch::ones({2}, torch::kBool), {}});
  EXPECT_LE(max_abs_diff(a.pooled, b.pooled), 1e-6);
  EXPECT_EQ(a.tokens.sizes(), torch::IntArrayRef({2, 7, 4}));
}

TEST(TransformerEncoder, RejectsSequencesPastMaxLen) {
  EncoderContext ctx;
  ctx.input_shape = {-1, kFeatures};
  auto block = encoder_registry().make(
      "transformer", ctx, block_config("type: transformer\nd_model: 4\nheads: 1\nmax_len: 3"));
  data::ModalityBatch x{torch::randn({1, 4, kFeatures}), torch::ones({1}, torch::kBool), {}};
  EXPECT_THROW(block->encode(x), c10::Error);
  x.data = x.data.narrow(1, 0, 3);
  EXPECT_EQ(block->encode(x).pooled.sizes(), torch::IntArrayRef({1, 4}));
}

}  // namespace
}  // namespace mmfuse::encoders
