// load_quantized_module (quantize.h): a quantized model file back into a model built from the
// same config, with its int8 layers hooked in.
#include <nlohmann/json.hpp>

#include "mmfuse/core/error.h"
#include "mmfuse/core/safetensors.h"
#include "mmfuse/nn/quant/quantize.h"

namespace mmfuse::nn::quant {

namespace {

torch::Tensor take_quant_tensor(std::map<std::string, torch::Tensor>& t, const std::string& key,
                                const std::string& path) {
  auto it = t.find(key);
  if (it == t.end()) {
    throw Error(path + ": quantized tensor " + key + " is missing; the file is incomplete, " +
                "write it again with `mmfuse optimize`");
  }
  auto v = it->second;
  t.erase(it);
  return v;
}

std::optional<ActivationQuant> take_input_quant(std::map<std::string, torch::Tensor>& t,
                                                const std::string& name) {
  auto s = t.find(name + ".input_scale");
  if (s == t.end()) return std::nullopt;
  ActivationQuant q;
  q.scale = s->second.item<float>();
  auto u = t.find(name + ".input_unsigned");
  q.is_unsigned = u != t.end() && u->second.item<int64_t>() != 0;
  t.erase(name + ".input_scale");
  t.erase(name + ".input_unsigned");
  t.erase(name + ".input_zero_point");
  return q;
}

torch::nn::Module& module_named(torch::nn::Module& root, const std::string& name,
                                const std::string& path) {
  for (const auto& item : root.named_modules("", false)) {
    if (item.key() == name) return *item.value();
  }
  throw Error(path + ": quantized layer " + name + " is not in the model the config builds; " +
              "the weights belong to another config");
}

// A folded batch norm's tensors, which the file leaves out (quantized_state): the identity with
// the folded bias (less the conv's own bias), so the float module computes what the int8 conv
// computes, conv(x; folded weight) + folded_bias. Files that kept them load them as they are.
void identity_batch_norm(torch::nn::Module& root, const std::string& bn_name,
                         const std::string& conv_name, const torch::Tensor& folded_bias,
                         std::map<std::string, torch::Tensor>& t, const std::string& path) {
  const std::string bn = bn_name + ".";
  if (t.count(bn + "weight")) return;
  auto* norm = module_named(root, bn_name, path).as<torch::nn::BatchNorm2d>();
  if (!norm) throw Error(path + ": " + bn_name + " is not a BatchNorm2d in this model");
  const auto c = folded_bias.numel();
  auto conv_bias = t.find(conv_name + ".bias");
  t[bn + "weight"] = torch::ones({c});
  t[bn + "bias"] = conv_bias == t.end() ? folded_bias : folded_bias - conv_bias->second;
  t[bn + "running_mean"] = torch::zeros({c});
  t[bn + "running_var"] = torch::full({c}, 1.0 - norm->options.eps());
  t[bn + "num_batches_tracked"] = torch::zeros({}, torch::kLong);
}

}  // namespace

std::shared_ptr<QuantizedModel> load_quantized_module(torch::nn::Module& root,
                                                      const std::string& path) {
  auto data = load_safetensors(path);
  auto meta_it = data.metadata.find("quantization");
  if (meta_it == data.metadata.end()) {
    throw Error(path + ": no \"quantization\" metadata; not a quantized model file (load it as " +
                "float weights)");
  }
  auto meta = nlohmann::json::parse(meta_it->second);
  auto qm = std::make_shared<QuantizedModel>();
  qm->mode = parse_quant_mode(meta.at("mode").get<std::string>());
  const auto floats = meta.value("float", nlohmann::json::object());
  for (const auto& [name, why] : floats.items()) {
    qm->float_layers[name] = why.get<std::string>();
  }
  auto& tensors = data.tensors;
  struct Pending {
    std::string name, kind;
    torch::Tensor values, scale, bias;
    std::optional<ActivationQuant> input;
  };
  std::vector<Pending> pending;
  for (const auto& [name, info] : meta.at("layers").items()) {
    Pending p{name, info.at("kind").get<std::string>(), {}, {}, {}, {}};
    p.values = take_quant_tensor(tensors, name + ".weight_int8", path);
    p.scale = take_quant_tensor(tensors, name + ".weight_scale", path);
    p.input = take_input_quant(tensors, name);
    if (p.kind == "conv2d") {
      p.bias = take_quant_tensor(tensors, name + ".folded_bias", path);
      qm->folded_bn[name] = info.at("bn").get<std::string>();
      identity_batch_norm(root, qm->folded_bn[name], name, p.bias, tensors, path);
    }
    // The float weight the model holds (and the hooks key on): the dequantized one (for a conv,
    // unfolded again below once its batch norm is loaded).
    tensors[name + ".weight"] = dequantize_per_channel(p.values, p.scale);
    pending.push_back(std::move(p));
  }
  for (const auto& name : meta.value("weight_only", nlohmann::json::array())) {
    const auto p = name.get<std::string>();
    WeightOnlyInt8 q{take_quant_tensor(tensors, p + ".int8", path),
                     take_quant_tensor(tensors, p + ".int8_scale", path)};
    tensors[p] = dequantize_weight_only(q);
    qm->weight_only.push_back(p);
  }
  load_module(root, tensors, {}, path);
  torch::NoGradGuard no_grad;
  qm->hooks = std::make_unique<LayerHooks>();
  for (auto& p : pending) {
    auto& m = module_named(root, p.name, path);
    if (p.kind == "linear") {
      auto* lin = m.as<torch::nn::Linear>();
      if (!lin) throw Error(path + ": layer " + p.name + " is not a Linear in this model");
      qm->hooks->add({p.name, lin->weight, nullptr,
                      std::make_shared<Int8Linear>(p.values, p.scale, p.input), nullptr});
    } else {
      auto* conv = m.as<torch::nn::Conv2d>();
      auto* bn = module_named(root, qm->folded_bn[p.name], path).as<torch::nn::BatchNorm2d>();
      if (!conv || !bn || !p.input) {
        throw Error(path + ": layer " + p.name + " is not a calibrated Conv2d + BatchNorm2d here");
      }
      auto bn_scale = bn->weight / torch::sqrt(bn->running_var + bn->options.eps());
      auto safe = torch::where(bn_scale != 0, bn_scale, torch::ones_like(bn_scale));
      conv->weight.copy_(conv->weight / safe.reshape({-1, 1, 1, 1}));
      ConvGeometry g;
      const auto& o = conv->options;
      auto pad = c10::get<torch::ExpandingArray<2>>(o.padding());
      g.padding = {(*pad)[0], (*pad)[1]};
      g.stride = {(*o.stride())[0], (*o.stride())[1]};
      g.dilation = {(*o.dilation())[0], (*o.dilation())[1]};
      g.groups = o.groups();
      qm->hooks->add({p.name, conv->weight, nullptr, nullptr,
                      std::make_shared<Int8Conv2d>(p.values, p.scale, p.bias, *p.input, g)});
    }
    qm->quantized.push_back(p.name);
  }
  return qm;
}

}  // namespace mmfuse::nn::quant
