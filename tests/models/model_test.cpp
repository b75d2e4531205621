#include <gtest/gtest.h>

#include "mmfuse/core/safetensors.h"
#include "mmfuse/models/build.h"
#include "tiny_blocks.h"

namespace mmfuse::models {
namespace {

using testing::TinyRegistries;

const char* kConfig = R"(
inputs: {image: [1, 4, 4], audio: [2, 3], text: {shape: [-1], vocab: 50}}
targets: {digit: {type: class, classes: 10}, loud: {type: regression, size: 2}}
model:
  encoders:
    audio: {type: tiny, dim: 5}     # file order differs from the Modality order on purpose
    image: {type: tiny, dim: 3}
  fusion: {type: concat}
  high_level: {type: mlp, hidden: [7], norm: layer}
  heads:
    digit: {type: tiny_linear, weight: 2.0}
    loud: {type: tiny_linear}
)";

MultimodalModel build(const std::string& yaml, const TinyRegistries& r,
                      ModelInputs* inputs = nullptr) {
  return build_model_from_config(ConfigNode::parse(yaml, "m.yaml"), r.get(), inputs);
}

std::string error_of(const std::string& yaml) {
  TinyRegistries r;
  try {
    build(yaml, r);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no ConfigError)";
}

TEST(BuildModel, NamesSubmodulesStablyAndComputesTheComposition) {
  TinyRegistries r;
  ModelInputs inputs;
  auto model = build(kConfig, r, &inputs);
  auto state = module_state(*model);
  for (const char* name :
       {"encoders.image.proj.weight", "encoders.audio.proj.bias", "fusion.placeholder_0",
        "fusion.placeholder_1", "high_level.net.0.weight", "high_level.net.1.weight",
        "heads.digit.fc.weight", "heads.loud.fc.bias"}) {
    EXPECT_TRUE(state.count(name)) << name;
  }
  EXPECT_EQ(model->modalities(), (std::vector<Modality>{Modality::image, Modality::audio}));
  EXPECT_EQ(model->loss_weights(), (std::map<std::string, double>{{"digit", 2.0}, {"loud", 1.0}}));
  EXPECT_EQ(inputs.targets.at("loud").kind, heads::TaskKind::regression);

  data::Batch batch = example_batch(inputs, 6);  // also has text, which the model ignores
  auto out = model->forward(batch);
  ASSERT_EQ(out.outputs.size(), 2u);
  EXPECT_EQ(out.outputs.at("digit").sizes(), (std::vector<int64_t>{6, 10}));
  EXPECT_EQ(out.outputs.at("loud").sizes(), (std::vector<int64_t>{6, 2}));
  EXPECT_EQ(out.fused.sizes(), (std::vector<int64_t>{6, 8}));
  EXPECT_EQ(out.representation.sizes(), (std::vector<int64_t>{6, 7}));

  // The same numbers by hand from the registered parameters: image first, then audio.
  auto lin = [&](const torch::Tensor& x, const std::string& p) {
    return torch::nn::functional::linear(x, state.at(p + ".weight"), state.at(p + ".bias"));
  };
  torch::Tensor zi = lin(batch.at(Modality::image).data.flatten(1), "encoders.image.proj");
  torch::Tensor za = lin(batch.at(Modality::audio).data.flatten(1), "encoders.audio.proj");
  torch::Tensor h = lin(torch::cat({zi, za}, 1), "high_level.net.0");
  h = torch::layer_norm(h, {7}, state.at("high_level.net.1.weight"),
                        state.at("high_level.net.1.bias"));
  torch::Tensor logits = lin(torch::relu(h), "heads.digit.fc");
  EXPECT_TRUE(torch::allclose(out.outputs.at("digit"), logits, 1e-5, 1e-6));
}

TEST(BuildModel, SingleModalityNeedsNoFusionAndIgnoresOtherInputs) {
  TinyRegistries r;
  ModelInputs inputs;
  auto model = build(R"(
inputs: {image: [1, 4, 4], audio: [2, 3]}
targets: {digit: {type: class, classes: 10}}
model:
  encoders: {audio: {type: tiny, dim: 4}}
  heads: {digit: {type: tiny_linear}}
)",
                     r, &inputs);
  EXPECT_FALSE(model->fusion());
  data::Batch batch = example_batch(inputs, 3);
  auto out = model->forward(batch);
  auto expected = model->head("digit")->predict(
      model->encoder(Modality::audio)->encode(batch.at(Modality::audio)).pooled);
  EXPECT_TRUE(torch::equal(out.outputs.at("digit"), expected));
  batch.inputs[index_of(Modality::audio)].reset();
  EXPECT_THROW(model->forward(batch), Error);
}

TEST(BuildModel, TokenFusionGetsTokensAndPassesItsLosses) {
  TinyRegistries r;
  ModelInputs inputs;
  auto model = build(R"(
inputs: {image: [1, 4, 4], audio: [2, 3]}
targets: {digit: {type: class, classes: 3}}
model:
  encoders: {image: {type: tiny, dim: 3, tokens: true}, audio: {type: tiny, dim: 2, tokens: true}}
  fusion: {type: token_mean}
  heads: {digit: {type: tiny_linear}}
)",
                     r, &inputs);
  auto out = model->forward(example_batch(inputs, 2));
  EXPECT_EQ(out.fused.size(1), 5);
  ASSERT_TRUE(out.losses.count("aux"));
  EXPECT_FLOAT_EQ(out.losses.at("aux").item<float>(), 1.0f);
}

TEST(BuildModel, ConfigErrorsNameThePathAndTheFix) {
  const std::string base =
      "inputs: {image: [1, 4, 4], audio: [2, 3]}\n"
      "targets: {digit: {type: class, classes: 10}}\n";
  struct Case {
    std::string model, expected;
  };
  const std::vector<Case> cases = {
      {"model: {encoders: {image: {type: resnet9}}, heads: {digit: {type: tiny_linear}}}",
       "m.yaml: model.encoders.image: unknown encoder 'resnet9'; known: tiny"},
      {"model: {encoders: {smell: {type: tiny, dim: 2}}, heads: {digit: {type: tiny_linear}}}",
       "model.encoders.smell: "},
      {"model: {encoders: {text: {type: tiny, dim: 2}}, heads: {digit: {type: tiny_linear}}}",
       "model.encoders.text: the data has no text input (inputs: image [1, 4, 4], audio [2, 3])"},
      {"model: {encoders: {image: {type: tiny, dim: 2}, audio: {type: tiny, dim: 2}},\n"
       "        heads: {digit: {type: tiny_linear}}}",
       "model.fusion: required with 2 encoders; e.g. fusion: {type: concat}"},
      {"model: {encoders: {image: {type: tiny, dim: 2, tokens: true}, audio: {type: tiny, dim: "
       "2}},\n  fusion: {type: token_mean}, heads: {digit: {type: tiny_linear}}}",
       "model.fusion: fusion 'token_mean' attends over token sequences, but encoder "
       "model.encoders.audio gives none"},
      {"model: {encoders: {image: {type: tiny, dim: 2}}, heads: {age: {type: tiny_linear}}}",
       "model.heads.age: no target 'age' in the data; targets: digit"},
      {"model: {encoders: {image: {type: tiny, dim: 2}}, heads: {}}", "model.heads: expected"},
      {"model: {encoders: {image: {type: tiny, dim: 2}}, heads: {digit: {type: tiny_linear}},\n"
       "        high_level: {hidden: [0]}}",
       "model.high_level.hidden: expected one or more positive layer widths"},
      {"model: {encoders: {image: {type: tiny, dim: 2}}, heads: {digit: {type: tiny_linear}},\n"
       "        fuson: {type: concat}}",
       "model.fuson: unknown key"},
  };
  for (const auto& c : cases) {
    const std::string msg = error_of(base + c.model);
    EXPECT_NE(msg.find(c.expected), std::string::npos) << c.model << "\n  got: " << msg;
  }
  EXPECT_NE(error_of("inputs: {image: [1, 4]}\ntargets: {d: {type: klass, classes: 2}}\n"
                     "model: {}")
                .find("targets.d.type: unknown target type 'klass'; known: class"),
            std::string::npos);
}

TEST(MultimodalModel, CloneIsIndependentAndComputesTheSame) {
  TinyRegistries r;
  ModelInputs inputs;
  auto model = build(kConfig, r, &inputs);
  model->eval();
  auto copy = std::dynamic_pointer_cast<MultimodalModelImpl>(model->clone());
  ASSERT_TRUE(copy);
  copy->eval();
  data::Batch batch = example_batch(inputs, 4);
  EXPECT_TRUE(torch::equal(model->forward(batch).outputs.at("digit"),
                           copy->forward(batch).outputs.at("digit")));
  EXPECT_EQ(module_state(*copy).size(), module_state(*model).size());
  {
    torch::NoGradGuard no_grad;
    for (auto& p : copy->parameters()) p.add_(1.0);
  }
  EXPECT_FALSE(torch::equal(model->forward(batch).outputs.at("digit"),
                            copy->forward(batch).outputs.at("digit")));
  // The copy's accessors reach its own (registered) submodules.
  EXPECT_EQ(copy->head("digit").module().get(), copy->named_modules()["heads.digit"].get());
  EXPECT_NE(copy->head("digit").module().get(), model->head("digit").module().get());
}

}  // namespace
}  // namespace mmfuse::models
