// LeNet: output sizes of the AV-MNIST recipes, state-dict names of the peer, and numerical parity
// with the PyTorch peer's LeNet (../shared/peers/avmnist_peer.py) in eval mode.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <set>

#include <nlohmann/json.hpp>

#include "mmfuse/nn/encoders/lenet.h"
#include "nn/conformance_util.h"
#include "test_util.h"

namespace mmfuse::encoders {
namespace {

using mmfuse::testing::max_abs_diff;

LeNet make_lenet(int64_t channels, int64_t extra, int64_t side) {
  return LeNet(LeNetOptions(1, {side, side}).channels(channels).extra_blocks(extra));
}

nn::Encoded encode(LeNet& net, const torch::Tensor& x) {
  return net->encode({x, torch::ones({x.size(0)}, torch::kBool), {}});
}

TEST(LeNetEncoder, PooledSizesOfTheAvMnistRecipes) {
  torch::NoGradGuard no_grad;
  auto image = make_lenet(6, 3, 28);  // 28 -> 14 -> 7 -> 3 -> 1, 48 channels
  EXPECT_EQ(image->out_dim(), 48);
  EXPECT_EQ(image->token_dim(), 48);
  auto out = encode(image, torch::rand({2, 1, 28, 28}));
  EXPECT_EQ(out.pooled.sizes(), torch::IntArrayRef({2, 48}));
  EXPECT_EQ(out.tokens.sizes(), torch::IntArrayRef({2, 1, 48}));

  auto audio = make_lenet(6, 5, 112);  // 112 -> 56 -> 28 -> 14 -> 7 -> 3 -> 1, 192 channels
  EXPECT_EQ(audio->out_dim(), 192);
  EXPECT_EQ(encode(audio, torch::rand({2, 1, 112, 112})).pooled.sizes(),
            torch::IntArrayRef({2, 192}));

  auto xattn = make_lenet(6, 1, 28);  // the peer's cross-attention image encoder: [B, 12, 7, 7]
  EXPECT_EQ(xattn->out_dim(), 12 * 49);
  EXPECT_EQ(encode(xattn, torch::rand({2, 1, 28, 28})).tokens.sizes(),
            torch::IntArrayRef({2, 49, 12}));
}

TEST(LeNetEncoder, StateDictKeysFollowThePeer) {
  auto net = make_lenet(6, 1, 28);
  std::set<std::string> keys;
  for (const auto& p : net->named_parameters()) keys.insert(p.key());
  for (const auto& b : net->named_buffers()) keys.insert(b.key());
  std::set<std::string> expected = {
      "net.0.weight",       "net.1.weight",      "net.1.bias",
      "net.1.running_mean", "net.1.running_var", "net.1.num_batches_tracked",
      "net.4.weight",       "net.5.weight",      "net.5.bias",
      "net.5.running_mean", "net.5.running_var", "net.5.num_batches_tracked"};
  EXPECT_EQ(keys, expected);
  EXPECT_EQ(net->named_parameters()["net.0.weight"].sizes(), torch::IntArrayRef({6, 1, 5, 5}));
  EXPECT_EQ(net->named_parameters()["net.4.weight"].sizes(), torch::IntArrayRef({12, 6, 3, 3}));
}

TEST(LeNetEncoder, RejectsAnImageOfAnotherSize) {
  auto net = make_lenet(6, 3, 28);
  EXPECT_THROW(encode(net, torch::rand({2, 1, 32, 32})), c10::Error);
}

// The peer builds LeNets with a fixed seed, gives the BatchNorms non-trivial statistics, and
// writes every state-dict tensor, an input and its output as raw arrays (numpy .tofile) described
// by meta.json.
const char* kPeerScript = R"PY(
import json, os, sys
import torch
sys.path.insert(0, sys.argv[1])
from avmnist_peer import LeNet
out = sys.argv[2]
meta = {}
for name, (ch, extra, side) in {'image': (6, 3, 28), 'audio': (6, 5, 112)}.items():
    torch.manual_seed(7)
    m = LeNet(1, ch, extra)
    with torch.no_grad():
        for mod in m.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.5, 2.0)
                mod.weight.uniform_(0.5, 1.5)
                mod.bias.uniform_(-0.2, 0.2)
                mod.num_batches_tracked.fill_(3)
    m.eval()
    x = torch.rand(3, 1, side, side)
    with torch.no_grad():
        y, fmap = m(x), m.net(x)
    tensors = dict(m.state_dict(), input=x, output=y, map=fmap)
    entries = {}
    for key, t in tensors.items():
        a = t.detach().contiguous().numpy()
        fname = name + '.' + key + '.bin'
        a.tofile(os.path.join(out, fname))
        entries[key] = {'file': fname, 'dtype': str(a.dtype), 'shape': list(a.shape)}
    meta[name] = {'channels': ch, 'extra': extra, 'side': side, 'tensors': entries}
json.dump(meta, open(os.path.join(out, 'meta.json'), 'w'))
)PY";

torch::Tensor read_raw(const std::string& dir, const nlohmann::json& entry) {
  std::vector<int64_t> shape = entry["shape"].get<std::vector<int64_t>>();
  auto dtype = entry["dtype"] == "int64" ? torch::kInt64 : torch::kFloat;
  auto t = torch::empty(shape, dtype);
  std::ifstream in(dir + "/" + entry["file"].get<std::string>(), std::ios::binary);
  in.read(static_cast<char*>(t.data_ptr()), static_cast<std::streamsize>(t.nbytes()));
  EXPECT_TRUE(in.good()) << "short read of " << entry["file"];
  return t;
}

TEST(LeNetEncoder, MatchesThePeerNumerically) {
  MMFUSE_REQUIRE(mmfuse::testing::missing_peers());
  const std::string python = "/usr/bin/python3";
  mmfuse::testing::TempDir dir;
  { std::ofstream(dir.file("peer_lenet.py")) << kPeerScript; }
  std::string cmd = python + " " + dir.file("peer_lenet.py") + " '" +
                    mmfuse::testing::shared_dir() + "/peers' '" + dir.str() + "' 2>&1";
  FILE* pipe = ::popen(cmd.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::string log;
  char buf[512];
  while (std::fgets(buf, sizeof buf, pipe)) log += buf;
  ASSERT_EQ(::pclose(pipe), 0) << "peer script failed:\n" << log;

  auto meta = nlohmann::json::parse(std::ifstream(dir.file("meta.json")));
  for (const auto& [name, m] : meta.items()) {
    SCOPED_TRACE(name);
    auto net = make_lenet(m["channels"].get<int64_t>(), m["extra"].get<int64_t>(),
                          m["side"].get<int64_t>());
    const auto& tensors = m["tensors"];
    std::set<std::string> mine;
    {
      torch::NoGradGuard no_grad;
      auto copy_in = [&](const std::string& key, torch::Tensor& t) {
        mine.insert(key);
        ASSERT_TRUE(tensors.contains(key)) << "the peer has no " << key;
        auto peer = read_raw(dir.str(), tensors[key]);
        ASSERT_EQ(peer.sizes(), t.sizes()) << key;
        t.copy_(peer);
      };
      for (auto& p : net->named_parameters()) copy_in(p.key(), p.value());
      for (auto& b : net->named_buffers()) copy_in(b.key(), b.value());
    }
    for (const auto& [key, entry] : tensors.items()) {
      if (key != "input" && key != "output" && key != "map") {
        EXPECT_TRUE(mine.count(key)) << "mmfuse's LeNet has no " << key;
      }
    }
    net->eval();
    torch::NoGradGuard no_grad;
    auto out = encode(net, read_raw(dir.str(), tensors["input"]));
    auto expected = read_raw(dir.str(), tensors["output"]);
    auto map = read_raw(dir.str(), tensors["map"]);
    EXPECT_GT(expected.abs().max().item<float>(), 0.1f);
    EXPECT_LE(max_abs_diff(out.pooled, expected), 1e-5);
    EXPECT_LE(max_abs_diff(out.tokens, map.flatten(2).transpose(1, 2)), 1e-5);
  }
}

}  // namespace
}  // namespace mmfuse::encoders
