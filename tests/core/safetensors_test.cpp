#include "mmfuse/core/safetensors.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include <nlohmann/json.hpp>

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"
#include "test_util.h"

namespace mmfuse {
namespace {

using testing::TempDir;

// A tensor of `dtype` with varied values, exactly representable in every dtype.
torch::Tensor sample_tensor(torch::ScalarType dtype, std::vector<int64_t> shape) {
  torch::Tensor v =
      torch::arange(0, torch::tensor(shape).prod().item<int64_t>()).to(torch::kFloat64);
  v = (v * 7).remainder(23) - 11;  // -11..11
  if (dtype == torch::kUInt8) v = v.abs();
  if (dtype == torch::kBool) v = v.gt(0);
  if (torch::isFloatingType(dtype)) v = v * 0.25;
  return v.to(dtype).reshape(shape);
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary).write(bytes.data(), bytes.size());
}

// A file from a header text and a buffer of `buffer_size` zero bytes.
std::string raw_file(const std::string& header, std::size_t buffer_size, uint64_t length = 0) {
  std::string out(8, '\0');
  uint64_t n = length ? length : header.size();
  std::memcpy(out.data(), &n, 8);
  return out + header + std::string(buffer_size, '\0');
}

TEST(Safetensors, RoundTripsEveryDtypeWithMetadata) {
  TempDir dir;
  const std::vector<torch::ScalarType> dtypes = {
      torch::kFloat64, torch::kFloat32, torch::kFloat16, torch::kBFloat16, torch::kInt64,
      torch::kInt32,   torch::kInt16,   torch::kInt8,    torch::kUInt8,    torch::kBool};
  std::map<std::string, torch::Tensor> tensors;
  for (auto dt : dtypes) {
    tensors[safetensors_dtype_name(dt)] = sample_tensor(dt, {3, 5});
  }
  tensors["scalar"] = torch::tensor(2.5);
  tensors["empty"] = torch::zeros({0, 4});
  tensors["strided"] = sample_tensor(torch::kFloat32, {4, 6}).t();  // non-contiguous
  save_safetensors(dir.file("a.safetensors"), tensors, {{"format", "pt"}, {"epoch", "3"}});

  SafetensorsData back = load_safetensors(dir.file("a.safetensors"));
  ASSERT_EQ(back.tensors.size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    ASSERT_TRUE(back.tensors.count(name)) << name;
    const auto& b = back.tensors.at(name);
    EXPECT_EQ(b.scalar_type(), t.scalar_type()) << name;
    EXPECT_EQ(b.sizes(), t.sizes()) << name;
    EXPECT_TRUE(torch::equal(b, t)) << name;
  }
  EXPECT_EQ(back.metadata, (std::map<std::string, std::string>{{"format", "pt"}, {"epoch", "3"}}));
  EXPECT_EQ(safetensors_dtype("BF16"), torch::kBFloat16);
  EXPECT_THROW(safetensors_dtype("F8"), Error);
  EXPECT_THROW(safetensors_dtype_name(torch::kComplexFloat), Error);
}

TEST(Safetensors, WritesDeterministicPaddedHeaders) {
  std::map<std::string, torch::Tensor> t = {{"b", torch::ones({3})}, {"a", torch::zeros({1})}};
  const std::string x = serialize_safetensors(t);
  EXPECT_EQ(x, serialize_safetensors(t));
  uint64_t n = 0;
  std::memcpy(&n, x.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  EXPECT_EQ(x.size(), 8 + n + 4 * 4);
  const std::string header = x.substr(8, n);
  EXPECT_LT(header.find("\"a\""), header.find("\"b\""));  // sorted names, offsets in that order
  EXPECT_NE(header.find("\"data_offsets\":[0,4]"), std::string::npos) << header;
  EXPECT_THROW(serialize_safetensors({{"__metadata__", torch::ones({1})}}), Error);
  EXPECT_THROW(serialize_safetensors({{"x", torch::Tensor()}}), Error);
}

struct CorruptCase {
  const char* what;
  std::string bytes;
  const char* expected;  // part of the message
};

TEST(Safetensors, RejectsCorruptFilesNamingFileAndTensor) {
  TempDir dir;
  std::string valid = serialize_safetensors({{"w", torch::ones({2, 2})}});
  const std::vector<CorruptCase> cases = {
      {"short", std::string(5, '\0'), "at least the 8-byte header length"},
      {"bad length", raw_file("{}", 0, 64), "header length 64"},
      {"too big", raw_file("{}", 0, 200ull << 20), "exceeds the"},
      {"not json", raw_file("{\"w\": [", 0), "not valid JSON"},
      {"unknown dtype", raw_file(R"({"w":{"dtype":"F8","shape":[2],"data_offsets":[0,2]}})", 2),
       "tensor 'w': unknown dtype 'F8'"},
      {"size mismatch",
       raw_file(R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}})", 12),
       "tensor 'w': data_offsets [0,12] span 12 bytes, but F32 [2, 2] needs 16"},
      {"overlap",
       raw_file(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                12),
       "tensors 'a' and 'b' overlap"},
      {"gap", raw_file(R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[2,4]}})", 4),
       "gap of 2 unused bytes before tensor 'a'"},
      {"past end", raw_file(R"({"a":{"dtype":"U8","shape":[8],"data_offsets":[0,8]}})", 4),
       "tensor 'a' data_offsets [0, 8] run past the 4-byte buffer"},
      {"trailing", valid + "xyz", "trailing data"},
      {"truncated", valid.substr(0, valid.size() - 3), "tensor 'w' data_offsets [0, 16] run past"},
  };
  for (const auto& c : cases) {
    const std::string path = dir.file(std::string(c.what) + ".safetensors");
    write_bytes(path, c.bytes);
    try {
      load_safetensors(path);
      ADD_FAILURE() << c.what << ": expected InputError";
    } catch (const InputError& e) {
      EXPECT_EQ(e.file(), path) << c.what;
      EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << c.what << ": " << e.what();
      EXPECT_NE(std::string(e.what()).find(c.expected), std::string::npos)
          << c.what << ": " << e.what();
    }
  }
}

// A small module with parameters, buffers and nesting.
torch::nn::Sequential small_net() {
  return torch::nn::Sequential(torch::nn::Linear(4, 3), torch::nn::BatchNorm1d(3),
                               torch::nn::Linear(3, 2));
}

TEST(Safetensors, SavesAndLoadsModulesStrictly) {
  TempDir dir;
  auto a = small_net();
  a->train();
  a->forward(torch::randn({8, 4}));  // moves the BatchNorm running statistics
  save_module(*a, dir.file("m.safetensors"), {{"kind", "small"}});
  auto names = load_safetensors(dir.file("m.safetensors")).tensors;
  EXPECT_TRUE(names.count("1.running_mean") && names.count("1.num_batches_tracked") &&
              names.count("2.weight"));

  auto b = small_net();
  auto report = load_module(*b, dir.file("m.safetensors"));
  EXPECT_EQ(report.loaded.size(), module_state(*a).size());
  for (const auto& [name, t] : module_state(*a)) {
    EXPECT_TRUE(torch::equal(t, module_state(*b).at(name))) << name;
  }

  // Renamed keys: the file says "net.<i>...", the module "<i>...".
  std::map<std::string, torch::Tensor> prefixed;
  for (const auto& [name, t] : module_state(*a)) prefixed["net." + name] = t * 2;
  ModuleLoadOptions opts;
  opts.rename = [](const std::string& n) { return n.substr(4); };
  load_module(*b, prefixed, opts);
  EXPECT_TRUE(torch::equal(b[0]->as<torch::nn::Linear>()->weight,
                           a[0]->as<torch::nn::Linear>()->weight * 2));
}

TEST(Safetensors, StrictLoadListsEveryProblemAndLeavesModuleUnchanged) {
  auto a = small_net();
  auto state = module_state(*a);
  std::map<std::string, torch::Tensor> file = state;
  file.erase("0.bias");                          // missing
  file["extra.weight"] = torch::zeros({1});      // unexpected
  file["2.weight"] = torch::zeros({5, 3});       // wrong shape
  file["0.weight"] = torch::full({3, 4}, 42.0);  // would be loaded
  auto before = a[0]->as<torch::nn::Linear>()->weight.clone();
  try {
    load_module(*a, file, {}, "peer.safetensors");
    FAIL() << "expected Error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("peer.safetensors"), std::string::npos) << msg;
    EXPECT_NE(msg.find("missing in the file: 0.bias [3]"), std::string::npos) << msg;
    EXPECT_NE(msg.find("unexpected (unused) in the file: extra.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("2.weight: file [5, 3] vs module [2, 3]"), std::string::npos) << msg;
  }
  EXPECT_TRUE(torch::equal(a[0]->as<torch::nn::Linear>()->weight, before));

  // Non-strict loads what matches and reports the rest; allowed prefixes are not "missing".
  ModuleLoadOptions lenient;
  lenient.strict = false;
  lenient.may_stay_initialized = {"0."};
  auto report = load_module(*a, file, lenient);
  EXPECT_TRUE(report.missing.empty());
  EXPECT_EQ(report.unexpected, std::vector<std::string>{"extra.weight"});
  EXPECT_EQ(report.mismatched.size(), 1u);
  EXPECT_TRUE(torch::equal(a[0]->as<torch::nn::Linear>()->weight, torch::full({3, 4}, 42.0)));
}

// ------------------------------------------------------------ interop with PyTorch (peer)

std::string peers_dir() {
  return testing::shared_dir() + "/peers";
}

#define REQUIRE_PYTHON() MMFUSE_REQUIRE(testing::missing_peers())

// The values of a tensor as doubles, row-major.
std::vector<double> values(const torch::Tensor& t) {
  auto d = t.to(torch::kFloat64).contiguous();
  return std::vector<double>(d.data_ptr<double>(), d.data_ptr<double>() + d.numel());
}

TEST(Safetensors, ReadsWhatThePeerWrites) {
  REQUIRE_PYTHON();
  TempDir dir;
  const std::string script = dir.file("w.py");
  write_bytes(script,
              "import sys, json, torch\nsys.path.insert(0, sys.argv[1])\n"
              "from avmnist_peer import save_safetensors\n"
              "torch.manual_seed(3)\n"
              "t = {'conv.weight': torch.randn(2, 3, 5), 'steps': torch.arange(-3, 4),\n"
              "     'bn.num_batches_tracked': torch.tensor(17)}\n"
              "save_safetensors(sys.argv[2], t)\n"
              "print(json.dumps({k: {'shape': list(v.shape), 'values': "
              "v.double().flatten().tolist()} for k, v in t.items()}))\n");
  auto r = testing::run_command("/usr/bin/python3 " + script + " " + peers_dir() + " " +
                                dir.file("peer.safetensors"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto expected = nlohmann::json::parse(r.output);
  auto got = load_safetensors(dir.file("peer.safetensors")).tensors;
  ASSERT_EQ(got.size(), expected.size());
  EXPECT_EQ(got.at("conv.weight").scalar_type(), torch::kFloat32);
  EXPECT_EQ(got.at("steps").scalar_type(), torch::kInt64);
  for (const auto& [name, e] : expected.items()) {
    EXPECT_EQ(got.at(name).sizes().vec(), e["shape"].get<std::vector<int64_t>>()) << name;
    EXPECT_EQ(values(got.at(name)), e["values"].get<std::vector<double>>()) << name;
  }
}

TEST(Safetensors, PyTorchReadsWhatWeWrite) {
  REQUIRE_PYTHON();
  TempDir dir;
  std::map<std::string, torch::Tensor> tensors;
  for (auto dt :
       {torch::kFloat64, torch::kFloat32, torch::kFloat16, torch::kBFloat16, torch::kInt64,
        torch::kInt32, torch::kInt16, torch::kInt8, torch::kUInt8, torch::kBool}) {
    tensors[safetensors_dtype_name(dt)] = sample_tensor(dt, {2, 3, 2});
  }
  tensors["randn"] = torch::randn({7, 3});
  save_safetensors(dir.file("ours.safetensors"), tensors);
  // An independent reader: struct + json + torch.frombuffer, as the format spec describes it.
  const std::string script = dir.file("r.py");
  write_bytes(script,
              "import sys, json, struct, torch\n"
              "b = open(sys.argv[1], 'rb').read()\n"
              "n = struct.unpack('<Q', b[:8])[0]\n"
              "h = json.loads(b[8:8 + n])\n"
              "D = {'F64': torch.float64, 'F32': torch.float32, 'F16': torch.float16,\n"
              "     'BF16': torch.bfloat16, 'I64': torch.int64, 'I32': torch.int32,\n"
              "     'I16': torch.int16, 'I8': torch.int8, 'U8': torch.uint8, 'BOOL': torch.bool}\n"
              "out = {}\n"
              "for k, v in h.items():\n"
              "    s, e = v['data_offsets']\n"
              "    buf = bytearray(b[8 + n + s:8 + n + e])\n"
              "    t = torch.frombuffer(buf, dtype=D[v['dtype']]).reshape(v['shape'])\n"
              "    out[k] = {'dtype': v['dtype'], 'shape': list(t.shape),\n"
              "              'values': t.double().flatten().tolist()}\n"
              "print(json.dumps(out))\n");
  auto r = testing::run_command("/usr/bin/python3 " + script + " " + dir.file("ours.safetensors"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  auto got = nlohmann::json::parse(r.output);
  ASSERT_EQ(got.size(), tensors.size());
  for (const auto& [name, t] : tensors) {
    EXPECT_EQ(got[name]["dtype"], safetensors_dtype_name(t.scalar_type())) << name;
    EXPECT_EQ(got[name]["shape"].get<std::vector<int64_t>>(), t.sizes().vec()) << name;
    EXPECT_EQ(got[name]["values"].get<std::vector<double>>(), values(t)) << name;
  }
}

}  // namespace
}  // namespace mmfuse
