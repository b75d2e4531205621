// Encoder configs: typos, unknown names and unsuitable inputs fail with a ConfigError that names
// the config path and says what was expected.
#include <gtest/gtest.h>

#include <string>

#include "mmfuse/core/error.h"
#include "mmfuse/nn/encoders/encoder.h"
#include "nn/conformance_util.h"

namespace mmfuse::encoders {
namespace {

EncoderContext config_context(std::vector<int64_t> shape, int64_t vocab = 0) {
  EncoderContext c;
  c.input_shape = std::move(shape);
  c.vocab_size = vocab;
  return c;
}

/// The message of the ConfigError that building `type` with `yaml` throws.
std::string config_error_of(const std::string& type, const EncoderContext& ctx, const std::string& yaml) {
  try {
    encoder_registry().make(type, ctx,
                            mmfuse::testing::block_config("type: " + type + "\n" + yaml));
  } catch (const ConfigError& e) {
    return e.what();
  }
  ADD_FAILURE() << "no ConfigError for " << type << " with " << yaml;
  return {};
}

#define EXPECT_CONFIG_ERROR(type, ctx, yaml, fragment)                              \
  do {                                                                              \
    std::string message = config_error_of(type, ctx, yaml);                                \
    EXPECT_NE(message.find(fragment), std::string::npos) << "message: " << message; \
  } while (0)

TEST(EncoderConfig, TyposAndUnknownNamesNameThePath) {
  auto frames = config_context({-1, 4});
  EXPECT_CONFIG_ERROR("lstm", frames, "hiden_size: 4", "block.hiden_size: unknown key");
  EXPECT_CONFIG_ERROR("gru", frames, "pooling: cls", "block.pooling: unknown pooling 'cls'");
  EXPECT_CONFIG_ERROR("transformer", frames, "d_model: 6\nheads: 4", "block.heads");
  EXPECT_CONFIG_ERROR("transformer", frames, "positions: rotary",
                      "block.positions: unknown positions 'rotary'; known: learned, sinusoidal");
  auto tabular = config_context({5});
  EXPECT_CONFIG_ERROR("mlp", tabular, "norm: group", "block.norm: unknown norm 'group'");
  EXPECT_CONFIG_ERROR("mlp", tabular, "activation: swish", "known: none, relu, tanh, gelu");
  EXPECT_CONFIG_ERROR("mlp", tabular, "hidden: []", "block.hidden");
  EXPECT_CONFIG_ERROR("embedding_bag", tabular, "dim: 0", "block.dim");
  EXPECT_CONFIG_ERROR("lenet", config_context({1, 28, 28}), "extra_blocks: 4", "cannot be halved 5 times");
  EXPECT_CONFIG_ERROR("resnet", config_context({3, 32, 32}), "blocks: [2, 0]", "block.blocks");
  EXPECT_CONFIG_ERROR("nosuch", tabular, "", "unknown encoder 'nosuch'; known: lenet, resnet");
}

TEST(EncoderConfig, UnsuitableInputsSayWhatFits) {
  EXPECT_CONFIG_ERROR("lstm", config_context({-1}), "", "vocabulary size");
  EXPECT_CONFIG_ERROR("lstm", config_context({3, 28, 28}), "", "use an image encoder");
  EXPECT_CONFIG_ERROR("lenet", config_context({-1, 4}), "", "per-item shape [C, H, W]");
  EXPECT_CONFIG_ERROR("lenet", config_context({1, -1, -1}), "", "fixed image size");
  EXPECT_CONFIG_ERROR("embedding", config_context({10}), "", "use embedding_bag");
  EXPECT_CONFIG_ERROR("identity", config_context({-1, 4}), "", "fixed per-item input shape");
}

}  // namespace
}  // namespace mmfuse::encoders
