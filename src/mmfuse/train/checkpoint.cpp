#include "mmfuse/train/checkpoint.h"

#include <cstring>
#include <sstream>

#include "mmfuse/core/error.h"
#include "mmfuse/core/safetensors.h"

namespace mmfuse::train {

namespace {

constexpr const char* kOptimizerKey = "__optimizer__";
constexpr const char* kCompanionPrefix = "__companion__.";
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

torch::Tensor optimizer_bytes(const torch::optim::Optimizer& optimizer) {
  std::ostringstream out;
  torch::serialize::OutputArchive archive;
  optimizer.save(archive);
  archive.save_to(out);
  return bytes_tensor(out.str());
}

void load_optimizer(torch::optim::Optimizer& optimizer, const torch::Tensor& bytes) {
  std::istringstream in(tensor_bytes(bytes));
  torch::serialize::InputArchive archive;
  archive.load_from(in);
  optimizer.load(archive);
}

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.rfind(prefix, 0) == 0;
}

// Takes the tensors named `prefix`* out of `all`, without the prefix.
std::map<std::string, torch::Tensor> take_prefixed(std::map<std::string, torch::Tensor>& all,
                                                   const std::string& prefix) {
  std::map<std::string, torch::Tensor> out;
  for (auto it = all.begin(); it != all.end();) {
    if (starts_with(it->first, prefix)) {
      out[it->first.substr(prefix.size())] = it->second;
      it = all.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

torch::Tensor take(std::map<std::string, torch::Tensor>& all, const std::string& key,
                   const std::string& path) {
  auto it = all.find(key);
  if (it == all.end()) {
    throw Error(path + ": not a training checkpoint of this run (no " + key +
                "); resume needs RUN_DIR/checkpoints/last.safetensors of the same config");
  }
  auto t = it->second;
  all.erase(it);
  return t;
}

}  // namespace

torch::Tensor cpu_rng_state() {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get_state().clone();
}

void save_checkpoint(const std::string& path, const CheckpointParts& parts,
                     const nlohmann::json& state, const std::vector<torch::Tensor>& rng_states) {
  auto tensors = module_state(*parts.model);
  tensors[kOptimizerKey] = optimizer_bytes(*parts.optimizer);
  for (const auto& c : parts.companions) {
    for (auto& [name, t] : module_state(*c.module)) {
      tensors[kCompanionPrefix + c.name + "." + name] = t;
    }
    if (c.optimizer)
      tensors[std::string(kOptimizerKey) + "." + c.name] = optimizer_bytes(*c.optimizer);
  }
  if (rng_states.empty()) {
    tensors[kRngKey] = cpu_rng_state();
  } else {
    tensors[kRngKey] = rng_states.front();
    for (std::size_t r = 1; r < rng_states.size(); ++r) {
      tensors[std::string(kRngKey) + "." + std::to_string(r)] = rng_states[r];
    }
  }
  save_safetensors(path, tensors, {{kStateKey, state.dump()}});
}

nlohmann::json load_checkpoint(const std::string& path, const CheckpointParts& parts, int rank) {
  auto data = load_safetensors(path);
  auto state = data.metadata.find(kStateKey);
  if (state == data.metadata.end()) {
    throw Error(path + ": not a training checkpoint (no trainer state); resume needs " +
                "RUN_DIR/checkpoints/last.safetensors");
  }
  auto& all = data.tensors;
  const auto opt = take(all, kOptimizerKey, path);
  auto rngs = take_prefixed(all, std::string(kRngKey) + ".");
  torch::Tensor rng = take(all, kRngKey, path);
  if (auto it = rngs.find(std::to_string(rank)); rank > 0 && it != rngs.end()) rng = it->second;
  auto companion_tensors = take_prefixed(all, kCompanionPrefix);
  std::map<std::string, torch::Tensor> companion_opts;
  for (const auto& c : parts.companions) {
    if (c.optimizer)
      companion_opts[c.name] = take(all, std::string(kOptimizerKey) + "." + c.name, path);
  }
  load_module(*parts.model, all, ModuleLoadOptions{}, path);
  load_optimizer(*parts.optimizer, opt);
  for (const auto& c : parts.companions) {
    auto mine = take_prefixed(companion_tensors, c.name + ".");
    load_module(*c.module, mine, ModuleLoadOptions{}, path + " (" + c.name + ")");
    if (c.optimizer) load_optimizer(*c.optimizer, companion_opts.at(c.name));
  }
  if (!companion_tensors.empty()) {
    throw Error(path + ": holds companion tensors this run does not train (" +
                companion_tensors.begin()->first + ", ...); resume with the run's own config");
  }
  {
    auto gen = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(rng);
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
