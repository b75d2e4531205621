// The `pretrained:` option of every encoder (nn/encoders/pretrained.h): a checkpoint with other
// tensors around the encoder's loads through prefix and exclude; each kind of problem (missing,
// unexpected, wrong shape, wrong dtype) is an error naming the tensor and the config path, and
// leaves the encoder unchanged; F16 / BF16 / F64 tensors load only when converted explicitly.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "mmfuse/core/error.h"
#include "mmfuse/core/safetensors.h"
#include "mmfuse/nn/encoders/pretrained.h"
#include "nn/conformance_util.h"
#include "test_util.h"

namespace mmfuse::encoders {
namespace {

using mmfuse::testing::TempDir;

// An mlp encoder over 4 features with one hidden layer of 3: tensors net.0.weight [3, 4] and
// net.0.bias [3].
EncoderContext tabular_context() {
  EncoderContext ctx;
  ctx.modality = Modality::tabular;
  ctx.input_shape = {4};
  return ctx;
}

// A checkpoint holding the encoder under "backbone." and a classifier beside it.
std::map<std::string, torch::Tensor> checkpoint() {
  return {{"backbone.net.0.weight", torch::arange(12, torch::kFloat).reshape({3, 4}) / 8},
          {"backbone.net.0.bias", torch::tensor({0.5f, -0.25f, 1.0f})},
          {"classifier.weight", torch::ones({2, 3})}};
}

EncoderBlock build(const std::string& file, const std::string& extra = "") {
  const auto cfg =
      mmfuse::testing::block_config("type: mlp\nhidden: [3]\npretrained: {file: " + file +
                                    ", prefix: backbone., exclude: [classifier.]" + extra + "}");
  return make_encoder(tabular_context(), cfg);
}

// The message of the Error `f` throws ("" when it throws none).
template <class F>
std::string load_error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(PretrainedLoad, LoadsTheEncoderPartOfACheckpoint) {
  TempDir dir;
  const auto file = dir.file("w.safetensors");
  save_safetensors(file, checkpoint());
  EncoderBlock enc = build(file);
  const auto state = module_state(*enc.module());
  EXPECT_TRUE(torch::equal(state.at("net.0.weight"), checkpoint().at("backbone.net.0.weight")));
  EXPECT_TRUE(torch::equal(state.at("net.0.bias"), checkpoint().at("backbone.net.0.bias")));
  // The loaded weights are the ones the encoder computes with: relu(W x + b) by hand.
  torch::NoGradGuard no_grad;
  const auto x = torch::tensor({{1.0f, 0.0f, 2.0f, -1.0f}});
  const auto y = enc->encode({x, torch::ones({1}, torch::kBool), {}}).pooled;
  // Row i of W is (4i, 4i+1, 4i+2, 4i+3) / 8: W x = (4i + 2(4i+2) - (4i+3)) / 8 = (8i + 1) / 8,
  // plus b = (0.5, -0.25, 1): all positive, so relu keeps them.
  EXPECT_TRUE(torch::allclose(y, torch::tensor({{0.625f, 0.875f, 3.125f}})));
}

TEST(PretrainedLoad, MissingTensorIsNamedWithConfigPathAndEncoderIsUnchanged) {
  TempDir dir;
  auto ck = checkpoint();
  ck.erase("backbone.net.0.bias");
  save_safetensors(dir.file("w.safetensors"), ck);
  const std::string msg = load_error_of([&] { build(dir.file("w.safetensors")); });
  EXPECT_NE(msg.find("block.pretrained"), std::string::npos) << msg;
  EXPECT_NE(msg.find("missing in the file: net.0.bias [3]"), std::string::npos) << msg;
  EXPECT_NE(msg.find("1 of 2 encoder tensors matched"), std::string::npos) << msg;
  // strict: false loads what matches (the weight) and keeps the rest initialised.
  EncoderBlock enc = build(dir.file("w.safetensors"), ", strict: false");
  EXPECT_TRUE(
      torch::equal(module_state(*enc.module()).at("net.0.weight"), ck.at("backbone.net.0.weight")));
}

TEST(PretrainedLoad, UnexpectedTensorIsNamedWithTheExcludeHint) {
  TempDir dir;
  auto ck = checkpoint();
  ck["backbone.net.1.weight"] = torch::zeros({3});
  save_safetensors(dir.file("w.safetensors"), ck);
  const std::string msg = load_error_of([&] { build(dir.file("w.safetensors")); });
  EXPECT_NE(msg.find("unexpected (unused) in the file: backbone.net.1.weight -> net.1.weight"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("exclude"), std::string::npos) << msg;
}

TEST(PretrainedLoad, WrongShapeIsNamedWithBothShapes) {
  TempDir dir;
  auto ck = checkpoint();
  ck["backbone.net.0.weight"] = torch::zeros({3, 5});
  save_safetensors(dir.file("w.safetensors"), ck);
  const std::string msg = load_error_of([&] { build(dir.file("w.safetensors")); });
  EXPECT_NE(msg.find("shape mismatch: backbone.net.0.weight -> net.0.weight: file [3, 5] vs "
                     "module [3, 4]"),
            std::string::npos)
      << msg;
}

TEST(PretrainedLoad, OtherFloatDtypesLoadOnlyWhenConvertedAndAreReported) {
  TempDir dir;
  for (const auto dtype : {torch::kFloat16, torch::kBFloat16, torch::kFloat64}) {
    auto ck = checkpoint();
    ck["backbone.net.0.weight"] = ck["backbone.net.0.weight"].to(dtype);
    const auto file = dir.file("w.safetensors");
    save_safetensors(file, ck);
    const std::string name = safetensors_dtype_name(dtype);
    SCOPED_TRACE(name);
    const std::string msg = load_error_of([&] { build(file); });
    EXPECT_NE(msg.find("dtype mismatch: backbone.net.0.weight -> net.0.weight: file " + name +
                       " vs module F32"),
              std::string::npos)
        << msg;
    EXPECT_NE(msg.find("convert_dtypes: true"), std::string::npos) << msg;

    PretrainedOptions o;
    o.file = file;
    o.prefix = "backbone.";
    o.exclude = {"classifier."};
    o.convert_dtypes = true;
    EncoderBlock enc =
        make_encoder(tabular_context(), mmfuse::testing::block_config("type: mlp\nhidden: [3]"));
    const auto report = load_pretrained(*enc.module(), o);
    ASSERT_EQ(report.converted.size(), 1u);
    EXPECT_EQ(report.converted[0], "backbone.net.0.weight -> net.0.weight: " + name + " -> F32");
    const auto w = module_state(*enc.module()).at("net.0.weight");
    EXPECT_EQ(w.scalar_type(), torch::kFloat);
    // i / 8 for i < 12 is exact in every one of these precisions.
    EXPECT_TRUE(torch::equal(w, checkpoint().at("backbone.net.0.weight")));
  }
}

TEST(PretrainedLoad, IntegerTensorForAFloatParameterIsNeverConverted) {
  TempDir dir;
  auto ck = checkpoint();
  ck["backbone.net.0.bias"] = torch::tensor({1, 2, 3}, torch::kInt64);
  save_safetensors(dir.file("w.safetensors"), ck);
  const std::string msg =
      load_error_of([&] { build(dir.file("w.safetensors"), ", convert_dtypes: true"); });
  EXPECT_NE(msg.find("dtype mismatch: backbone.net.0.bias -> net.0.bias: file I64 vs module F32"),
            std::string::npos)
      << msg;
}

TEST(PretrainedLoad, FileAndPrefixErrorsSayWhatToFix) {
  TempDir dir;
  std::string msg = load_error_of([&] { build(dir.file("absent.safetensors")); });
  EXPECT_NE(msg.find("absent.safetensors: no such weights file"), std::string::npos) << msg;
  save_safetensors(dir.file("w.safetensors"), checkpoint());
  msg = load_error_of([&] {
    make_encoder(tabular_context(),
                 mmfuse::testing::block_config("type: mlp\nhidden: [3]\npretrained: {file: " +
                                               dir.file("w.safetensors") + ", prefix: encoder.}"));
  });
  EXPECT_NE(msg.find("no tensor name starts with the prefix 'encoder.'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("backbone.net.0.bias"), std::string::npos) << msg;  // what is there
}

}  // namespace
}  // namespace mmfuse::encoders
