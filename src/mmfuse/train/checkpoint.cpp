#include "mmfuse/train/checkpoint.h"

#include <sstream>

#include "mmfuse/core/error.h"
#include "mmfuse/core/safetensors.h"

namespace mmfuse::train {

namespace {

constexpr const char* kOptimizerKey = "__optimizer__";
constexpr const char* kRngKey = "__rng_cpu__";
constexpr const char* kStateKey = "mmfuse_state";

torch::Tensor bytes_tensor(const std::string& bytes) {
  auto t = torch::empty({static_cast<int64_t>(bytes.size())}, torch::kUInt8);
  std::memcpy(t.data_ptr<uint8_t>(), bytes.data(), bytes.size());
  return t;
}

std::string tensor_bytes(const torch::Tensor& t) {
  auto c = t.contiguous().to(torch::kCPU);
  return std::string(reinterpret_cast<const char*>(c.data_ptr<uint8_t>()),
                     static_cast<std::size_t>(c.numel()));
}

}  // namespace

void save_checkpoint(const std::string& path, const torch::nn::Module& model,
                     const torch::optim::Optimizer& optimizer, const nlohmann::json& state) {
  auto tensors = module_state(model);
  std::ostringstream opt_bytes;
  {
    torch::serialize::OutputArchive archive;
    optimizer.save(archive);
    archive.save_to(opt_bytes);
  }
  tensors[kOptimizerKey] = bytes_tensor(opt_bytes.str());
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    tensors[kRngKey] = gen.get_state().clone();
  }
  save_safetensors(path, tensors, {{kStateKey, state.dump()}});
}

nlohmann::json load_checkpoint(const std::string& path, torch::nn::Module& model,
                               torch::optim::Optimizer& optimizer) {
  auto data = load_safetensors(path);
  auto opt = data.tensors.find(kOptimizerKey);
  auto rng = data.tensors.find(kRngKey);
  auto state = data.metadata.find(kStateKey);
  if (opt == data.tensors.end() || rng == data.tensors.end() || state == data.metadata.end()) {
    throw Error(path +
                ": not a training checkpoint (no optimizer, RNG or trainer state); "
                "resume needs RUN_DIR/checkpoints/last.safetensors");
  }
  const std::string opt_bytes = tensor_bytes(opt->second);
  const torch::Tensor rng_state = rng->second;
  data.tensors.erase(kOptimizerKey);
  data.tensors.erase(kRngKey);
  load_module(model, data.tensors, ModuleLoadOptions{}, path);
  {
    std::istringstream in(opt_bytes);
    torch::serialize::InputArchive archive;
    archive.load_from(in);
    optimizer.load(archive);
  }
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(rng_state);
  }
  try {
    return nlohmann::json::parse(state->second);
  } catch (const nlohmann::json::exception& e) {
    throw Error(path + ": trainer state is not valid JSON: " + e.what());
  }
}

nlohmann::json read_checkpoint_state(const std::string& path) {
  auto data = load_safetensors(path);
  auto state = data.metadata.find(kStateKey);
  if (state == data.metadata.end()) throw Error(path + ": not a training checkpoint");
  return nlohmann::json::parse(state->second);
}

}  // namespace mmfuse::train
