// ResNet: torchvision resnet18 parameter names and sizes (so its weights load), output sizes of
// both stems, the state_dict names and shapes of torchvision's resnet18/34/50, and parity with a
// seeded random torchvision resnet18 (tests/nn/torchvision_resnet_reference.py, run here with
// Debian's python3-torchvision) loaded through `pretrained:`.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mmfuse/core/safetensors.h"
#include "mmfuse/nn/encoders/pretrained.h"
#include "mmfuse/nn/encoders/resnet.h"
#include "nn/conformance_util.h"
#include "test_util.h"

namespace mmfuse::encoders {
namespace {

// torchvision.models.resnet18().named_parameters(), in order, without fc.weight and fc.bias.
const std::vector<std::string> kTorchvisionResnet18 = {"conv1.weight",
                                                       "bn1.weight",
                                                       "bn1.bias",
                                                       "layer1.0.conv1.weight",
                                                       "layer1.0.bn1.weight",
                                                       "layer1.0.bn1.bias",
                                                       "layer1.0.conv2.weight",
                                                       "layer1.0.bn2.weight",
                                                       "layer1.0.bn2.bias",
                                                       "layer1.1.conv1.weight",
                                                       "layer1.1.bn1.weight",
                                                       "layer1.1.bn1.bias",
                                                       "layer1.1.conv2.weight",
                                                       "layer1.1.bn2.weight",
                                                       "layer1.1.bn2.bias",
                                                       "layer2.0.conv1.weight",
                                                       "layer2.0.bn1.weight",
                                                       "layer2.0.bn1.bias",
                                                       "layer2.0.conv2.weight",
                                                       "layer2.0.bn2.weight",
                                                       "layer2.0.bn2.bias",
                                                       "layer2.0.downsample.0.weight",
                                                       "layer2.0.downsample.1.weight",
                                                       "layer2.0.downsample.1.bias",
                                                       "layer2.1.conv1.weight",
                                                       "layer2.1.bn1.weight",
                                                       "layer2.1.bn1.bias",
                                                       "layer2.1.conv2.weight",
                                                       "layer2.1.bn2.weight",
                                                       "layer2.1.bn2.bias",
                                                       "layer3.0.conv1.weight",
                                                       "layer3.0.bn1.weight",
                                                       "layer3.0.bn1.bias",
                                                       "layer3.0.conv2.weight",
                                                       "layer3.0.bn2.weight",
                                                       "layer3.0.bn2.bias",
                                                       "layer3.0.downsample.0.weight",
                                                       "layer3.0.downsample.1.weight",
                                                       "layer3.0.downsample.1.bias",
                                                       "layer3.1.conv1.weight",
                                                       "layer3.1.bn1.weight",
                                                       "layer3.1.bn1.bias",
                                                       "layer3.1.conv2.weight",
                                                       "layer3.1.bn2.weight",
                                                       "layer3.1.bn2.bias",
                                                       "layer4.0.conv1.weight",
                                                       "layer4.0.bn1.weight",
                                                       "layer4.0.bn1.bias",
                                                       "layer4.0.conv2.weight",
                                                       "layer4.0.bn2.weight",
                                                       "layer4.0.bn2.bias",
                                                       "layer4.0.downsample.0.weight",
                                                       "layer4.0.downsample.1.weight",
                                                       "layer4.0.downsample.1.bias",
                                                       "layer4.1.conv1.weight",
                                                       "layer4.1.bn1.weight",
                                                       "layer4.1.bn1.bias",
                                                       "layer4.1.conv2.weight",
                                                       "layer4.1.bn2.weight",
                                                       "layer4.1.bn2.bias"};

TEST(ResNetEncoder, DefaultHasTorchvisionResnet18Names) {
  ResNet net(ResNetOptions(3));
  std::vector<std::string> names;
  int64_t count = 0;
  for (const auto& p : net->named_parameters()) {
    names.push_back(p.key());
    count += p.value().numel();
  }
  EXPECT_EQ(names, kTorchvisionResnet18);
  // resnet18 has 11,689,512 parameters, of which fc holds 512 * 1000 + 1000.
  EXPECT_EQ(count, 11689512 - 513000);
  auto params = net->named_parameters();
  EXPECT_EQ(params["conv1.weight"].sizes(), torch::IntArrayRef({64, 3, 7, 7}));
  EXPECT_EQ(params["layer2.0.downsample.0.weight"].sizes(), torch::IntArrayRef({128, 64, 1, 1}));
  EXPECT_EQ(params["layer4.1.conv2.weight"].sizes(), torch::IntArrayRef({512, 512, 3, 3}));
  auto buffers = net->named_buffers();
  EXPECT_TRUE(buffers.contains("layer3.0.downsample.1.running_var"));
  EXPECT_TRUE(buffers.contains("bn1.num_batches_tracked"));
  EXPECT_EQ(net->out_dim(), 512);
  EXPECT_EQ(net->token_dim(), 512);
}

TEST(ResNetEncoder, OutputSizesOfBothStems) {
  torch::NoGradGuard no_grad;
  // 64x64, conv7x7/s2 + max-pool: 16x16 after the stem, 2x2 after three stride-2 stages.
  ResNet large(ResNetOptions(3).base_width(8));
  large->eval();
  auto out = large->encode({torch::rand({2, 3, 64, 64}), torch::ones({2}, torch::kBool), {}});
  EXPECT_EQ(out.pooled.sizes(), torch::IntArrayRef({2, 64}));
  EXPECT_EQ(out.tokens.sizes(), torch::IntArrayRef({2, 4, 64}));
  EXPECT_LE(mmfuse::testing::max_abs_diff(out.pooled, out.tokens.mean(1)), 1e-6);

  // 28x28 small stem, three stages of width 4, 8, 16: 28 -> 14 -> 7.
  ResNet small(ResNetOptions(1).base_width(4).blocks({1, 1, 1}).small_input(true));
  small->eval();
  out = small->encode({torch::rand({2, 1, 28, 28}), torch::ones({2}, torch::kBool), {}});
  EXPECT_EQ(small->out_dim(), 16);
  EXPECT_EQ(out.pooled.sizes(), torch::IntArrayRef({2, 16}));
  EXPECT_EQ(out.tokens.sizes(), torch::IntArrayRef({2, 49, 16}));
  EXPECT_FALSE(small->named_parameters().contains("layer1.0.downsample.0.weight"));
  EXPECT_TRUE(small->named_parameters().contains("layer3.0.downsample.0.weight"));
}

// The output of torchvision_resnet_reference.py, made once per test process (TempDir is per
// test, so the folder is managed here).
struct TorchvisionResnetReference {
  std::string dir;
  std::map<std::string, torch::Tensor> io;
  nlohmann::json shapes;
};

const TorchvisionResnetReference& torchvision_resnet_reference() {
  static const TorchvisionResnetReference ref = [] {
    TorchvisionResnetReference r;
    r.dir = (std::filesystem::temp_directory_path() /
             ("mmfuse-torchvision-resnet-" + std::to_string(::getpid())))
                .string();
    std::filesystem::create_directories(r.dir);
    const auto run =
        mmfuse::testing::run_command("/usr/bin/python3 " + std::string(MMFUSE_SOURCE_DIR) +
                                     "/tests/nn/torchvision_resnet_reference.py " + r.dir);
    if (run.exit_code != 0) {
      throw std::runtime_error("torchvision_resnet_reference.py failed:\n" + run.output);
    }
    r.io = load_safetensors(r.dir + "/io.safetensors").tensors;
    r.shapes = nlohmann::json::parse(std::ifstream(r.dir + "/shapes.json"));
    // The folder's name outlives the statics (destroyed before this handler runs).
    static const std::string* folder = nullptr;
    folder = new std::string(r.dir);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(*folder, ec);
    });
    return r;
  }();
  return ref;
}

std::string missing_torchvision() {
  return mmfuse::testing::missing_python({"torch", "torchvision", "numpy"});
}

EncoderBlock torchvision_resnet(const std::string& yaml) {
  EncoderContext ctx;
  ctx.input_shape = {3, 72, 64};
  return make_encoder(ctx, mmfuse::testing::block_config("type: resnet\n" + yaml));
}

TEST(ResNetEncoder, StateDictMatchesTorchvisionResnet18_34_50) {
  MMFUSE_REQUIRE(missing_torchvision());
  for (const std::string arch : {"resnet18", "resnet34", "resnet50"}) {
    SCOPED_TRACE(arch);
    ResNet net(resnet_arch(arch, 3).classes(1000));
    std::map<std::string, std::vector<int64_t>> mine, theirs;
    for (const auto& [name, t] : module_state(*net)) mine[name] = t.sizes().vec();
    for (const auto& [name, shape] : torchvision_resnet_reference().shapes.at(arch).items()) {
      theirs[name] = shape.get<std::vector<int64_t>>();
    }
    EXPECT_EQ(mine, theirs);
    EXPECT_EQ(net->feature_dim(), arch == "resnet50" ? 2048 : 512);
    EXPECT_EQ(net->out_dim(), 1000);
  }
}

TEST(ResNetEncoder, Resnet18ParityWithTorchvision) {
  MMFUSE_REQUIRE(missing_torchvision());
  const auto& ref = torchvision_resnet_reference();
  const std::string file = ref.dir + "/resnet18.safetensors";
  // The whole checkpoint loads as is (strict) with the classifier; without it, fc. is excluded.
  EncoderBlock classifier =
      torchvision_resnet("arch: resnet18\nclasses: 1000\npretrained: {file: " + file + "}");
  EncoderBlock features =
      torchvision_resnet("arch: resnet18\npretrained: {file: " + file + ", exclude: [fc.]}");
  classifier.module()->eval();
  features.module()->eval();
  torch::NoGradGuard no_grad;
  const auto x = ref.io.at("input");
  const data::ModalityBatch batch{x, torch::ones({x.size(0)}, torch::kBool), {}};
  const auto logits = classifier->encode(batch);
  const auto pooled = features->encode(batch);
  const double d_logits = mmfuse::testing::max_abs_diff(logits.pooled, ref.io.at("logits"));
  const double d_features = mmfuse::testing::max_abs_diff(pooled.pooled, ref.io.at("features"));
  std::cout << "torchvision resnet18: max |diff| features " << d_features << ", logits " << d_logits
            << "\n";
  EXPECT_EQ(logits.pooled.sizes(), torch::IntArrayRef({2, 1000}));
  EXPECT_EQ(pooled.tokens.sizes(), torch::IntArrayRef({2, 3 * 2, 512}));  // 72x64 / 32
  EXPECT_LE(d_features, 1e-4);
  EXPECT_LE(d_logits, 1e-4);
  EXPECT_GT(ref.io.at("features").abs().max().item<double>(), 0.1);  // not a trivial output
}

TEST(ResNetEncoder, UnknownArchIsNamedAtItsConfigPath) {
  try {
    torchvision_resnet("arch: resnet101");
    FAIL() << "resnet101 was accepted";
  } catch (const ConfigError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("block.arch"), std::string::npos) << msg;
    EXPECT_NE(msg.find("resnet18, resnet34, resnet50"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace mmfuse::encoders
