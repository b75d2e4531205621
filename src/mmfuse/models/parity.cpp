#include "mmfuse/models/parity.h"

#include <sstream>

#include "mmfuse/core/error.h"

namespace mmfuse::models {

ParitySpec ParitySpec::from_config(const ConfigNode& parity) {
  if (!parity.is_map()) {
    parity.fail("expected a parity section with rename rules, inputs and outputs");
  }
  parity.check_keys({"peer", "rename", "keep_initialized", "inputs", "outputs", "tolerance"});
  ParitySpec spec;
  ConfigNode rules = parity["rename"];
  for (std::size_t i = 0; i < rules.size(); ++i) {
    ConfigNode r = rules.at(i);
    if (!r.is_sequence() || r.size() != 2) r.fail("expected a [from, to] pair of name prefixes");
    spec.rename.emplace_back(r.at(0).as<std::string>(), r.at(1).as<std::string>());
  }
  spec.keep_initialized = parity.get<std::vector<std::string>>("keep_initialized", {});
  ConfigNode inputs = parity["inputs"];
  if (!inputs.is_map() || inputs.size() == 0) {
    inputs.fail("expected io tensor -> modality pairs, e.g. inputs: {image: image}");
  }
  for (const auto& k : inputs.keys()) {
    try {
      spec.inputs[k] = modality_from_string(inputs.get<std::string>(k));
    } catch (const ConfigError& e) {
      inputs[k].fail(e.what());
    }
  }
  ConfigNode outputs = parity["outputs"];
  if (!outputs.is_map() || outputs.size() == 0) {
    outputs.fail("expected io tensor -> head pairs, e.g. outputs: {logits: digit}");
  }
  for (const auto& k : outputs.keys()) spec.outputs[k] = outputs.get<std::string>(k);
  spec.tolerance = parity.get<double>("tolerance", 1e-4);
  if (!(spec.tolerance >= 0)) parity["tolerance"].fail("expected a tolerance >= 0");
  return spec;
}

std::function<std::string(const std::string&)> prefix_renamer(
    std::vector<std::pair<std::string, std::string>> rules) {
  return [rules = std::move(rules)](const std::string& name) {
    for (const auto& [from, to] : rules) {
      if (name.rfind(from, 0) == 0) return to + name.substr(from.size());
    }
    return name;
  };
}

bool ParityResult::ok() const {
  for (const auto& [name, d] : max_abs_diff) {
    if (!(d <= tolerance)) return false;  // NaN fails too
  }
  return true;
}

ParityResult check_parity(MultimodalModel& model, const ParitySpec& spec,
                          const std::string& weights, const std::string& io,
                          const torch::Device& device) {
  ParityResult result;
  result.tolerance = spec.tolerance;
  ModuleLoadOptions load;
  load.rename = prefix_renamer(spec.rename);
  load.may_stay_initialized = spec.keep_initialized;
  result.load = load_module(*model, weights, load);

  SafetensorsData data = load_safetensors(io);
  auto tensor = [&](const std::string& name) -> const torch::Tensor& {
    auto it = data.tensors.find(name);
    if (it == data.tensors.end()) {
      std::string known;
      for (const auto& [k, v] : data.tensors) known += (known.empty() ? "" : ", ") + k;
      throw Error(io + ": no tensor '" + name +
                  "' (the parity section names it); the file has: " + known);
    }
    return it->second;
  };
  data::Batch batch;
  for (const auto& [name, m] : spec.inputs) {
    torch::Tensor x = tensor(name);  // [B, ...]
    if (batch.ids.empty()) {
      for (int64_t i = 0; i < x.size(0); ++i) batch.ids.push_back("io-" + std::to_string(i));
    }
    data::ModalityBatch mb;
    mb.data = x;
    mb.present = torch::ones({x.size(0)}, torch::kBool);
    batch.inputs[index_of(m)] = mb;
  }

  model->to(device);
  model->eval();
  ModelOutput out;
  {
    torch::NoGradGuard no_grad;
    out = model->forward(batch.to(device));
  }
  for (const auto& [name, target] : spec.outputs) {
    const torch::Tensor& expected = tensor(name);
    auto it = out.outputs.find(target);
    if (it == out.outputs.end()) throw Error("parity: the model has no head '" + target + "'");
    torch::Tensor got = it->second.to(torch::kCPU);
    if (got.sizes() != expected.sizes()) {
      std::ostringstream msg;
      msg << io << ": output '" << name << "' is " << expected.sizes() << " but head '" << target
          << "' gives " << got.sizes();
      throw Error(msg.str());
    }
    result.max_abs_diff[name] =
        (got.to(torch::kFloat64) - expected.to(torch::kFloat64)).abs().max().item<double>();
  }
  return result;
}

}  // namespace mmfuse::models
