#include "mmfuse/models/parity.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>

#include "mmfuse/models/build.h"
#include "mmfuse/models/summary.h"
#include "test_util.h"
#include "tiny_blocks.h"

namespace mmfuse::models {
namespace {

using testing::TempDir;

TEST(PrefixRenamer, FirstMatchingRuleWinsAndUnmatchedNamesStay) {
  auto rename = prefix_renamer({{"img.", "encoders.image."},
                                {"head.", "heads.digit.net."},
                                {"i", "WRONG."},
                                {"", "fusion."}});
  EXPECT_EQ(rename("img.net.0.weight"), "encoders.image.net.0.weight");
  EXPECT_EQ(rename("head.2.bias"), "heads.digit.net.2.bias");
  EXPECT_EQ(rename("factors.0"), "fusion.factors.0");
  EXPECT_EQ(prefix_renamer({{"a.", "b."}})("c.weight"), "c.weight");
}

const char* kTiny = R"(
inputs: {image: [1, 4, 4], audio: [2, 3]}
targets: {digit: {type: class, classes: 10}}
model:
  encoders: {image: {type: tiny, dim: 3}, audio: {type: tiny, dim: 5}}
  fusion: {type: concat}
  heads: {digit: {type: tiny_linear}}
parity:
  rename: [[img., encoders.image.], [aud., encoders.audio.], [head., heads.digit.]]
  keep_initialized: [fusion.placeholder_]
  inputs: {x_img: image, x_aud: audio}
  outputs: {logits: digit}
  tolerance: 1.0e-5
)";

// A "peer" export of a tiny model: its weights under peer names, inputs and outputs.
struct TinyExport {
  std::map<std::string, torch::Tensor> weights, io;
};

TinyExport export_tiny(const testing::TinyRegistries& r) {
  auto root = ConfigNode::parse(kTiny, "tiny.yaml");
  ModelInputs inputs;
  auto peer = build_model_from_config(root, r.get(), &inputs);
  peer->eval();
  TinyExport e;
  for (const auto& [name, t] : module_state(*peer)) {
    if (name.rfind("fusion.", 0) == 0) continue;  // the peer has no placeholders
    std::string n = name;
    for (auto [from, to] : {std::pair{"encoders.image.", "img."},
                            {"encoders.audio.", "aud."},
                            {"heads.digit.", "head."}}) {
      if (n.rfind(from, 0) == 0) n = to + n.substr(std::strlen(from));
    }
    e.weights[n] = t;
  }
  data::Batch batch = example_batch(inputs, 4);
  e.io["x_img"] = batch.at(Modality::image).data;
  e.io["x_aud"] = batch.at(Modality::audio).data;
  torch::NoGradGuard no_grad;
  e.io["logits"] = peer->forward(batch).outputs.at("digit");
  return e;
}

TEST(Parity, LoadsRenamedWeightsAndMatchesOutputs) {
  testing::TinyRegistries r;
  TempDir dir;
  TinyExport e = export_tiny(r);
  save_safetensors(dir.file("w.safetensors"), e.weights);
  save_safetensors(dir.file("io.safetensors"), e.io);
  auto root = ConfigNode::parse(kTiny, "tiny.yaml");
  ParitySpec spec = ParitySpec::from_config(root["parity"]);
  auto model = build_model_from_config(root, r.get());  // fresh, different weights

  auto result = check_parity(model, spec, dir.file("w.safetensors"), dir.file("io.safetensors"));
  EXPECT_TRUE(result.ok());
  EXPECT_EQ(result.load.loaded.size(), e.weights.size());
  EXPECT_LE(result.max_abs_diff.at("logits"), 1e-6);

  // Outputs off by 0.01 fail the 1e-5 tolerance, and the difference is reported.
  e.io["logits"] = e.io["logits"] + 0.01;
  save_safetensors(dir.file("io2.safetensors"), e.io);
  result = check_parity(model, spec, dir.file("w.safetensors"), dir.file("io2.safetensors"));
  EXPECT_FALSE(result.ok());
  EXPECT_NEAR(result.max_abs_diff.at("logits"), 0.01, 1e-6);
}

TEST(Parity, StrictLoadListsEveryMismatch) {
  testing::TinyRegistries r;
  TempDir dir;
  TinyExport e = export_tiny(r);
  e.weights.erase("img.proj.bias");
  e.weights["aud.extra"] = torch::zeros({2});
  e.weights["head.fc.weight"] = torch::zeros({10, 9});
  save_safetensors(dir.file("w.safetensors"), e.weights);
  save_safetensors(dir.file("io.safetensors"), e.io);
  auto root = ConfigNode::parse(kTiny, "tiny.yaml");
  auto model = build_model_from_config(root, r.get());
  try {
    check_parity(model, ParitySpec::from_config(root["parity"]), dir.file("w.safetensors"),
                 dir.file("io.safetensors"));
    FAIL() << "expected Error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("missing in the file: encoders.image.proj.bias [3]"), std::string::npos)
        << msg;
    EXPECT_NE(msg.find("unexpected (unused) in the file: aud.extra -> encoders.audio.extra"),
              std::string::npos)
        << msg;
    EXPECT_NE(msg.find("head.fc.weight -> heads.digit.fc.weight: file [10, 9] vs module [10, 8]"),
              std::string::npos)
        << msg;
  }
}

// ------------------------------------------------------------ the AV-MNIST peer models

// The summary's FLOP count of each peer model equals the PyTorch profiler's (with_flops) for the
// same products: convolutions, and matrix products (addmm + mm + bmm). The profiler also counts
// elementwise mul/add, which the summary leaves out by convention.
TEST(SummaryFlops, MatchPyTorchProfilerOnPeerModels) {
  MMFUSE_REQUIRE(testing::missing_peers());
  TempDir dir;
  const std::string script = dir.file("flops.py");
  std::ofstream(script) << "import sys, json, torch\nsys.path.insert(0, sys.argv[1])\n"
                           "from avmnist_peer import RECIPES\n"
                           "from torch.profiler import profile, ProfilerActivity\n"
                           "out = {}\n"
                           "for m in sys.argv[2:]:\n"
                           "    model = RECIPES[m][0]().eval()\n"
                           "    with torch.no_grad(), profile(activities=[ProfilerActivity.CPU],"
                           " with_flops=True) as p:\n"
                           "        model(torch.rand(1, 1, 28, 28), torch.rand(1, 1, 112, 112))\n"
                           "    f = {e.key: e.flops for e in p.key_averages() if e.flops}\n"
                           "    out[m] = {'conv': f.get('aten::conv2d', 0), 'matmul': "
                           "sum(f.get(k, 0) for k in ('aten::addmm', 'aten::mm', 'aten::bmm'))}\n"
                           "print(json.dumps(out))\n";
  const std::vector<std::string> names = {"image", "lf", "tf", "lrtf", "xattn"};
  std::string args;
  for (const auto& n : names) args += " " + n;
  auto r = testing::run_command("/usr/bin/python3 " + script + " " + testing::shared_dir() +
                                "/peers" + args);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto expected = nlohmann::json::parse(r.output);
  for (const auto& m : names) {
    ModelInputs inputs;
    auto root =
        ConfigNode::load_file(std::string(MMFUSE_SOURCE_DIR) + "/configs/avmnist/" + m + ".yaml");
    auto model = build_model_from_config(root, {}, &inputs);
    ModelSummary s = summarize_model(model, inputs);
    const double conv = s.flops.by_op["aten::convolution"];
    const double matmul =
        s.flops.by_op["aten::addmm"] + s.flops.by_op["aten::mm"] + s.flops.by_op["aten::bmm"];
    EXPECT_DOUBLE_EQ(conv, expected[m]["conv"].get<double>()) << m;
    EXPECT_DOUBLE_EQ(matmul, expected[m]["matmul"].get<double>()) << m;
    EXPECT_DOUBLE_EQ(s.flops.total, conv + matmul) << m;
  }
}

class AvmnistPeerParity : public ::testing::TestWithParam<std::string> {};

TEST_P(AvmnistPeerParity, LogitsMatchThePeer) {
  MMFUSE_REQUIRE(testing::missing_peers());
  const std::string m = GetParam();
  TempDir dir;
  auto r = testing::run_command("/usr/bin/python3 " + testing::shared_dir() +
                                "/peers/avmnist_peer.py export --threads 1 --model " + m +
                                " --out " + dir.str());
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto root =
      ConfigNode::load_file(std::string(MMFUSE_SOURCE_DIR) + "/configs/avmnist/" + m + ".yaml");
  auto model = build_model_from_config(root);
  auto result = check_parity(model, ParitySpec::from_config(root["parity"]),
                             dir.file("weights.safetensors"), dir.file("io.safetensors"));
  ASSERT_EQ(result.max_abs_diff.count("logits"), 1u);
  EXPECT_LE(result.max_abs_diff.at("logits"), 1e-4) << m;
  EXPECT_TRUE(result.ok());
  // Every peer tensor was used (strict loading would have thrown otherwise).
  EXPECT_EQ(result.load.unexpected.size(), 0u);
}

INSTANTIATE_TEST_SUITE_P(AllModels, AvmnistPeerParity,
                         ::testing::Values("image", "audio", "lf", "tf", "lrtf", "xattn"));

TEST(ParityCli, ExitsZeroOnMatchAndOneOnMismatch) {
  MMFUSE_REQUIRE(testing::missing_peers());
  TempDir dir;
  const std::string peer = "/usr/bin/python3 " + testing::shared_dir() +
                           "/peers/avmnist_peer.py export --threads 1 --out ";
  ASSERT_EQ(testing::run_command(peer + dir.file("lf") + " --model lf").exit_code, 0);
  ASSERT_EQ(testing::run_command(peer + dir.file("tf") + " --model tf").exit_code, 0);
  const std::string cfg = std::string(MMFUSE_SOURCE_DIR) + "/configs/avmnist/lf.yaml";
  auto ok = testing::run_mmfuse("parity --config " + cfg + " --weights " +
                                dir.file("lf/weights.safetensors") + " --io " +
                                dir.file("lf/io.safetensors"));
  EXPECT_EQ(ok.exit_code, 0) << ok.output;
  EXPECT_NE(ok.output.find("logits: max |diff|"), std::string::npos) << ok.output;
  // The lf model with tf's outputs: runs, but the logits differ -> exit 1.
  auto bad = testing::run_mmfuse("parity --config " + cfg + " --weights " +
                                 dir.file("lf/weights.safetensors") + " --io " +
                                 dir.file("tf/io.safetensors"));
  EXPECT_EQ(bad.exit_code, 1) << bad.output;
  EXPECT_NE(bad.output.find("FAIL"), std::string::npos) << bad.output;
  // tf's weights do not fit the lf model: one error listing the mismatches.
  auto wrong = testing::run_mmfuse("parity --config " + cfg + " --weights " +
                                   dir.file("tf/weights.safetensors") + " --io " +
                                   dir.file("tf/io.safetensors"));
  EXPECT_EQ(wrong.exit_code, 1) << wrong.output;
  EXPECT_NE(wrong.output.find("shape mismatch"), std::string::npos) << wrong.output;
}

}  // namespace
}  // namespace mmfuse::models
