// Conformance suite over every registered encoder: shape contract, gradients reach every
// parameter, seeding determinism, independent clones, save/load round trip, absent samples and a
// batch of one. An encoder without a recipe below fails, so a new one cannot escape the suite.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "mmfuse/nn/encoders/encoder.h"
#include "nn/conformance_util.h"
#include "nn/quant_conformance_util.h"

namespace mmfuse::encoders {
namespace {

using mmfuse::testing::block_config;
using mmfuse::testing::max_abs_diff;

/// How to build one encoder configuration and feed it a small batch.
struct Recipe {
  std::string label;
  EncoderContext context;
  std::string yaml;
  /// A batch of `b` samples, all present.
  std::function<data::ModalityBatch(int64_t b)> input;
};

/// Lengths T, T-1, ..., cycling, at least 1: [B] int64.
torch::Tensor varied_lengths(int64_t b, int64_t t) {
  return t - torch::arange(b, torch::kInt64).remainder(t);
}

std::function<data::ModalityBatch(int64_t)> images(int64_t c, int64_t h, int64_t w) {
  return [=](int64_t b) {
    return data::ModalityBatch{torch::rand({b, c, h, w}), torch::ones({b}, torch::kBool), {}};
  };
}

std::function<data::ModalityBatch(int64_t)> video_clips(int64_t k, int64_t c, int64_t h,
                                                        int64_t w) {
  return [=](int64_t b) {
    return data::ModalityBatch{torch::rand({b, k, c, h, w}), torch::ones({b}, torch::kBool), {}};
  };
}

std::function<data::ModalityBatch(int64_t)> frames(int64_t t, int64_t f) {
  return [=](int64_t b) {
    auto lengths = varied_lengths(b, t);
    auto valid = torch::arange(t).unsqueeze(0) < lengths.unsqueeze(1);
    auto x = torch::randn({b, t, f}) * valid.unsqueeze(2);
    return data::ModalityBatch{x, torch::ones({b}, torch::kBool), lengths};
  };
}

std::function<data::ModalityBatch(int64_t)> spectrogram(int64_t f, int64_t t) {
  return [=](int64_t b) {
    return data::ModalityBatch{torch::rand({b, 1, f, t}), torch::ones({b}, torch::kBool), {}};
  };
}

std::function<data::ModalityBatch(int64_t)> token_ids(int64_t t, int64_t vocab) {
  return [=](int64_t b) {
    auto lengths = varied_lengths(b, t);
    auto valid = torch::arange(t).unsqueeze(0) < lengths.unsqueeze(1);
    auto ids = torch::randint(1, vocab, {b, t}, torch::kInt64) * valid;
    return data::ModalityBatch{ids, torch::ones({b}, torch::kBool), lengths};
  };
}

std::function<data::ModalityBatch(int64_t)> vectors(int64_t d) {
  return [=](int64_t b) {
    return data::ModalityBatch{torch::rand({b, d}), torch::ones({b}, torch::kBool), {}};
  };
}

EncoderContext context(Modality m, std::vector<int64_t> shape, int64_t vocab = 0) {
  EncoderContext c;
  c.modality = m;
  c.input_shape = std::move(shape);
  c.vocab_size = vocab;
  return c;
}

/// Recipes by registered name; several per name cover the input kinds and options.
const std::map<std::string, std::vector<Recipe>>& recipes() {
  static const std::map<std::string, std::vector<Recipe>> table = {
      {"lenet",
       {{"mnist", context(Modality::image, {1, 28, 28}), "channels: 3\nextra_blocks: 2",
         images(1, 28, 28)}}},
      {"resnet",
       {{"small_stem", context(Modality::image, {3, 16, 16}),
         "base_width: 4\nblocks: [1, 2]\nsmall_input: true", images(3, 16, 16)},
        {"imagenet_stem", context(Modality::image, {1, 32, 32}),
         "base_width: 4\nblocks: [1, 1, 1, 1]", images(1, 32, 32)},
        {"bottleneck_fc", context(Modality::image, {3, 32, 32}),
         "base_width: 4\nblock: bottleneck\nblocks: [2, 1]\nclasses: 5", images(3, 32, 32)}}},
      {"mobilenet_v2",
       {{"narrow_symmetric", context(Modality::image, {3, 32, 32}), "width: 0.25",
         images(3, 32, 32)},
        {"narrow_same_odd_size", context(Modality::image, {1, 30, 34}),
         "width: 0.25\npadding: same", images(1, 30, 34)}}},
      {"yamnet",
       {{"narrow_short_patches", context(Modality::audio, {-1, 16}),
         "width: 0.25\npatch_frames: 8\npatch_hop: 4", frames(20, 16)}}},
      {"lstm",
       {{"frames_last", context(Modality::audio, {-1, 5}), "hidden_size: 6", frames(4, 5)},
        {"ids_bi_mean", context(Modality::text, {-1}, 11),
         "hidden_size: 4\nbidirectional: true\npooling: mean\nnum_layers: 2\nembedding_dim: 5",
         token_ids(5, 11)},
        {"spectrogram_bi_last", context(Modality::audio, {1, 6, 4}),
         "hidden_size: 3\nbidirectional: true", spectrogram(6, 4)}}},
      {"gru",
       {{"frames_bi_last", context(Modality::audio, {-1, 5}), "hidden_size: 6\nbidirectional: true",
         frames(4, 5)},
        {"ids_mean", context(Modality::text, {-1}, 11), "hidden_size: 4\npooling: mean",
         token_ids(5, 11)}}},
      {"transformer",
       {{"ids_cls_learned", context(Modality::text, {-1}, 13),
         "d_model: 8\nheads: 2\nlayers: 2\nff_dim: 16\nmax_len: 6", token_ids(6, 13)},
        {"frames_mean_sinusoidal", context(Modality::audio, {-1, 5}),
         "d_model: 8\nheads: 2\nlayers: 1\nff_dim: 16\npooling: mean\npositions: sinusoidal",
         frames(4, 5)},
        {"spectrogram_cls", context(Modality::audio, {1, 6, 4}), "d_model: 4\nheads: 1\nlayers: 1",
         spectrogram(6, 4)}}},
      {"bert",
       {{"ids_pooler", context(Modality::text, {-1}, 13),
         "hidden: 8\nlayers: 2\nheads: 2\nintermediate: 16\nmax_positions: 6", token_ids(6, 13)},
        {"ids_cls_fixed_length", context(Modality::text, {5}, 11),
         "hidden: 4\nlayers: 1\nheads: 1\nintermediate: 8\nmax_positions: 5\npooling: cls\n"
         "dropout: 0.0",
         token_ids(5, 11)}}},
      {"frame_sequence",
       {{"lenet_mean", context(Modality::image, {3, 1, 12, 12}),
         "frame: {type: lenet, channels: 2, extra_blocks: 1}\ntemporal: mean",
         video_clips(3, 1, 12, 12)},
        {"lenet_max", context(Modality::image, {2, 3, 8, 8}),
         "frame: {type: lenet, channels: 2, extra_blocks: 0}\ntemporal: max",
         video_clips(2, 3, 8, 8)},
        {"lenet_gru", context(Modality::image, {3, 1, 8, 8}),
         "frame: {type: lenet, channels: 2, extra_blocks: 0}\n"
         "temporal: {type: gru, hidden_size: 5}",
         video_clips(3, 1, 8, 8)},
        {"lenet_transformer", context(Modality::image, {4, 1, 8, 8}),
         "frame: {type: lenet, channels: 2, extra_blocks: 0}\n"
         "temporal: {type: transformer, d_model: 8, heads: 2, layers: 1, ff_dim: 16}",
         video_clips(4, 1, 8, 8)}}},
      {"embedding",
       {{"mean", context(Modality::text, {-1}, 9), "dim: 5", token_ids(6, 9)},
        {"max", context(Modality::text, {-1}, 9), "dim: 5\npooling: max", token_ids(6, 9)}}},
      {"embedding_bag",
       {{"tanh", context(Modality::text, {12}), "dim: 5\nactivation: tanh", vectors(12)}}},
      {"mlp",
       {{"tabular", context(Modality::tabular, {7}), "hidden: [8, 4]\ndropout: 0.1", vectors(7)},
        {"batch_norm", context(Modality::tabular, {2, 3}), "hidden: [5]\nnorm: batch",
         [](int64_t b) {
           return data::ModalityBatch{torch::randn({b, 2, 3}), torch::ones({b}, torch::kBool), {}};
         }},
        {"layer_norm_gelu", context(Modality::tabular, {7}),
         "hidden: [6, 6]\nnorm: layer\nactivation: gelu", vectors(7)}}},
      {"identity", {{"flatten", context(Modality::tabular, {2, 3}), "", spectrogram(2, 3)}}},
  };
  return table;
}

std::vector<std::string> registered_names() {
  std::vector<std::string> names;
  for (const auto& e : encoder_registry().entries()) names.push_back(e.name);
  return names;
}

class EncoderConformance : public ::testing::TestWithParam<std::string> {
 protected:
  static EncoderBlock build(const std::string& name, const Recipe& r, uint64_t seed) {
    torch::manual_seed(seed);
    return encoder_registry().make(name, r.context, block_config("type: " + name + "\n" + r.yaml));
  }

  static data::ModalityBatch input(const Recipe& r, int64_t b, uint64_t seed) {
    torch::manual_seed(seed);
    return r.input(b);
  }

  /// Encodes in eval mode without autograd.
  static nn::Encoded eval(const EncoderBlock& block, const data::ModalityBatch& x) {
    torch::NoGradGuard no_grad;
    block.module()->eval();
    return block->encode(x);
  }

  /// Runs `check` on every recipe of this encoder (fails when there is none).
  void for_each_recipe(const std::function<void(const Recipe&)>& check) const {
    mmfuse::testing::for_each_recipe(recipes(), GetParam(), __FILE__, check);
  }

  /// Runs a generic check on every recipe: outputs are pooled and tokens.
  void for_each_subject(void (*check)(const mmfuse::testing::Subject&)) const {
    const std::string name = GetParam();
    for_each_recipe([&](const Recipe& r) {
      mmfuse::testing::Subject s;
      s.build = [&](uint64_t seed) { return build(name, r, seed).module(); };
      s.run = [&](const mmfuse::testing::Subject::ModulePtr& m, int64_t b, uint64_t seed) {
        auto out = EncoderBlock(m)->encode(input(r, b, seed));
        return std::vector<torch::Tensor>{out.pooled, out.tokens};
      };
      check(s);
    });
  }
};

TEST_P(EncoderConformance, ShapeContract) {
  for_each_recipe([&](const Recipe& r) {
    auto block = build(GetParam(), r, 1);
    auto x = input(r, 3, 2);
    auto out = eval(block, x);
    ASSERT_TRUE(out.pooled.defined());
    EXPECT_EQ(out.pooled.sizes(), torch::IntArrayRef({3, block->out_dim()}));
    EXPECT_EQ(out.pooled.scalar_type(), torch::kFloat);
    EXPECT_GT(block->out_dim(), 0);
    EXPECT_TRUE(torch::equal(out.present, x.present));
    if (block->token_dim() > 0) {
      ASSERT_TRUE(out.tokens.defined());
      ASSERT_EQ(out.tokens.dim(), 3);
      EXPECT_EQ(out.tokens.size(0), 3);
      EXPECT_EQ(out.tokens.size(2), block->token_dim());
      if (x.lengths.defined()) {
        ASSERT_TRUE(out.token_mask.defined()) << "padded input needs a token_mask";
        EXPECT_EQ(out.token_mask.sizes(), torch::IntArrayRef({3, out.tokens.size(1)}));
        EXPECT_EQ(out.token_mask.scalar_type(), torch::kBool);
        const auto counts = out.token_mask.sum(1);
        if (out.tokens.size(1) == x.data.size(1)) {
          EXPECT_TRUE(torch::equal(counts, x.lengths));  // one token per input step
        } else {
          // Steps grouped into tokens (yamnet's patches): at least one token, and a longer
          // input never has fewer.
          EXPECT_TRUE((counts >= 1).all().item<bool>());
          for (int64_t i = 0; i < 3; ++i) {
            for (int64_t j = 0; j < 3; ++j) {
              if (x.lengths[i].item<int64_t>() >= x.lengths[j].item<int64_t>()) {
                EXPECT_GE(counts[i].item<int64_t>(), counts[j].item<int64_t>());
              }
            }
          }
        }
      }
    } else {
      EXPECT_FALSE(out.tokens.defined()) << "token_dim() == 0 but tokens are given";
    }
  });
}

TEST_P(EncoderConformance, EveryParameterGetsAGradient) {
  for_each_subject(mmfuse::testing::check_every_parameter_gets_a_gradient);
}

TEST_P(EncoderConformance, SameSeedSameOutput) {
  for_each_subject(mmfuse::testing::check_same_seed_same_output);
}

TEST_P(EncoderConformance, CloneIsIndependent) {
  for_each_subject(mmfuse::testing::check_clone_is_independent);
}

TEST_P(EncoderConformance, SaveLoadRoundTrip) {
  for_each_subject(mmfuse::testing::check_save_load_round_trip);
}

TEST_P(EncoderConformance, AbsentSamplesGiveFiniteOutputs) {
  for_each_recipe([&](const Recipe& r) {
    auto block = build(GetParam(), r, 11);
    auto x = input(r, 3, 12);
    // The pipeline zeroes absent samples and gives them length 0.
    x.present = torch::tensor({true, false, true});
    x.data = x.data.clone();
    x.data[1].zero_();
    if (x.lengths.defined()) x.lengths = x.lengths.clone().index_fill_(0, torch::tensor({1}), 0);
    for (bool train : {true, false}) {
      block.module()->train(train);
      auto out = block->encode(x);
      EXPECT_TRUE(torch::equal(out.present, x.present));
      EXPECT_TRUE(torch::isfinite(out.pooled).all().item<bool>()) << "train " << train;
      if (out.tokens.defined()) EXPECT_TRUE(torch::isfinite(out.tokens).all().item<bool>());
    }
  });
}

TEST_P(EncoderConformance, Int8CloseToFloat32) {
  if (mmfuse::testing::int8_stays_float().count(GetParam())) {
    GTEST_SKIP() << GetParam()
                 << " stays float: " << mmfuse::testing::int8_stays_float().at(GetParam());
  }
  for_each_subject(mmfuse::testing::check_int8_close_to_fp32);
}

TEST_P(EncoderConformance, BatchOfOne) {
  for_each_recipe([&](const Recipe& r) {
    auto block = build(GetParam(), r, 13);
    auto x = input(r, 3, 14);
    auto batch = eval(block, x);
    data::ModalityBatch one{x.data.narrow(0, 0, 1), x.present.narrow(0, 0, 1),
                            x.lengths.defined() ? x.lengths.narrow(0, 0, 1) : torch::Tensor()};
    auto single = eval(block, one);
    EXPECT_EQ(single.pooled.sizes(), torch::IntArrayRef({1, block->out_dim()}));
    // In eval mode a sample's encoding does not depend on its batch mates.
    EXPECT_LE(max_abs_diff(single.pooled, batch.pooled.narrow(0, 0, 1)), 1e-5);
  });
}

TEST(EncoderConformanceTable, EveryRecipeNamesARegisteredEncoder) {
  for (const auto& [name, list] : recipes()) {
    EXPECT_NE(encoder_registry().find(name), nullptr) << "recipe for unknown encoder " << name;
  }
}

INSTANTIATE_TEST_SUITE_P(Registered, EncoderConformance, ::testing::ValuesIn(registered_names()),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param;
                         });

}  // namespace
}  // namespace mmfuse::encoders
