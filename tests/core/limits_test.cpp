// Fixed caps on configs and weight files: YAML nesting depth, safetensors header size and tensor
// count, each refused with an error naming the file and the cap.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mmfuse/core/config.h"
#include "mmfuse/core/error.h"
#include "mmfuse/core/safetensors.h"

namespace mmfuse {
namespace {

using ::testing::HasSubstr;

std::string nested_yaml(int depth) {
  std::string text;
  for (int i = 0; i < depth; ++i) text += std::string(2 * i, ' ') + "k" + std::to_string(i) + ":\n";
  return text + std::string(2 * depth, ' ') + "leaf: 1\n";
}

TEST(ConfigLimits, NestingUpToTheCapParsesDeeperIsAnErrorNamingTheLine) {
  EXPECT_NO_THROW(ConfigNode::parse(nested_yaml(kConfigMaxDepth - 1), "ok.yaml"));
  try {
    ConfigNode::parse(nested_yaml(kConfigMaxDepth + 5), "deep.yaml");
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_THAT(e.what(), HasSubstr("deep.yaml:"));
    EXPECT_THAT(e.what(), HasSubstr("nesting deeper than 64 levels"));
  }
  // Flow style far past yaml-cpp's own recursion guard: an error, not a stack overflow.
  const std::string flow = std::string(5000, '[') + std::string(5000, ']');
  EXPECT_THROW(ConfigNode::parse(flow, "flow.yaml"), ConfigError);
}

std::string safetensors_with_header(const std::string& json) {
  std::string out(8, '\0');
  uint64_t n = json.size();
  std::memcpy(out.data(), &n, 8);
  return out + json;
}

TEST(SafetensorsLimits, TensorCountAndHeaderSizeCapsAreEnforcedAndConfigurable) {
  std::string json = "{";
  for (int i = 0; i < 5; ++i) {
    json += std::string(i ? "," : "") + "\"t" + std::to_string(i) +
            "\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}";
  }
  json += "}";
  const std::string bytes = safetensors_with_header(json);
  EXPECT_EQ(parse_safetensors(bytes, "five.safetensors").tensors.size(), 5u);
  try {
    parse_safetensors(bytes, "five.safetensors", SafetensorsLimits{kSafetensorsMaxHeader, 4});
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_EQ(e.file(), "five.safetensors");
    EXPECT_THAT(e.reason(), HasSubstr("lists 5 tensors, over the limit of 4"));
  }
  try {
    parse_safetensors(bytes, "five.safetensors", SafetensorsLimits{64, 100});
    FAIL() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_THAT(e.reason(), HasSubstr("header length " + std::to_string(json.size())));
    EXPECT_THAT(e.reason(), HasSubstr("max_header_bytes"));
  }
  // A size past 2^63 - 1 in a zero-element shape: an InputError, not torch's negative-size error.
  const std::string huge =
      "{\"t\":{\"dtype\":\"F32\",\"shape\":[0,18446744073709551615],\"data_offsets\":[0,0]}}";
  EXPECT_THROW(parse_safetensors(safetensors_with_header(huge), "huge.safetensors"), InputError);
}

}  // namespace
}  // namespace mmfuse
