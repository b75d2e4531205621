#include "mmfuse/nn/quant/quantize.h"

#include <algorithm>
#include <cmath>
#include <set>

#include <nlohmann/json.hpp>

#include "mmfuse/core/error.h"
#include "mmfuse/core/safetensors.h"

namespace mmfuse::nn::quant {

namespace {

// The activation parameters from an observation: its min/max, or a percentile of |x| (< 100).
ActivationQuant quant_range_of(const LayerObservation& o, double percentile) {
  if (percentile >= 100.0 || o.sample.empty()) return activation_quant(o.min, o.max);
  std::vector<float> mags(o.sample.size());
  std::transform(o.sample.begin(), o.sample.end(), mags.begin(),
                 [](float v) { return std::fabs(v); });
  auto at = static_cast<std::size_t>(std::floor(percentile / 100.0 * (mags.size() - 1)));
  std::nth_element(mags.begin(), mags.begin() + at, mags.end());
  const float hi = std::min(mags[at], std::max(std::fabs(o.min), std::fabs(o.max)));
  return o.min >= 0.0F ? activation_quant(0.0F, hi) : activation_quant(-hi, hi);
}

// bn's per-channel scale gamma / sqrt(running_var + eps).
torch::Tensor quant_bn_scale(const torch::nn::BatchNorm2dImpl& bn) {
  return bn.weight / torch::sqrt(bn.running_var + bn.options.eps());
}

// The geometry of `conv`, or a reason it has none the int8 kernel takes.
std::optional<ConvGeometry> quant_conv_geometry(const torch::nn::Conv2dImpl& conv,
                                                std::string& why_not) {
  const auto& o = conv.options;
  if (!c10::get_if<torch::ExpandingArray<2>>(&o.padding())) {
    why_not = "its padding is 'same'/'valid' text, not numbers";
    return std::nullopt;
  }
  if (!c10::get_if<torch::enumtype::kZeros>(&o.padding_mode())) {
    why_not = "its padding mode is not zeros";
    return std::nullopt;
  }
  ConvGeometry g;
  auto pad = c10::get<torch::ExpandingArray<2>>(o.padding());
  g.padding = {(*pad)[0], (*pad)[1]};
  g.stride = {(*o.stride())[0], (*o.stride())[1]};
  g.dilation = {(*o.dilation())[0], (*o.dilation())[1]};
  g.groups = o.groups();
  return g;
}

}  // namespace

std::string to_string(QuantMode mode) {
  return mode == QuantMode::static_int8 ? "static" : "dynamic";
}

QuantMode parse_quant_mode(const std::string& text) {
  if (text == "static") return QuantMode::static_int8;
  if (text == "dynamic") return QuantMode::dynamic_int8;
  throw UsageError("--int8 expects static or dynamic, got '" + text + "'");
}

std::vector<QuantizableLayer> quantizable_layers(torch::nn::Module& root) {
  std::vector<QuantizableLayer> out;
  for (const auto& item : root.named_modules("", false)) {
    torch::nn::Module* m = item.value().get();
    if (dynamic_cast<torch::nn::LinearImpl*>(m)) out.push_back({item.key(), "linear", m});
    if (dynamic_cast<torch::nn::Conv2dImpl*>(m)) out.push_back({item.key(), "conv2d", m});
  }
  return out;
}

Calibrator::Calibrator(torch::nn::Module& root) {
  for (const auto& l : quantizable_layers(root)) {
    HookedLayer h;
    h.name = l.name;
    h.weight = l.kind == "linear" ? l.module->as<torch::nn::Linear>()->weight
                                  : l.module->as<torch::nn::Conv2d>()->weight;
    h.observe = std::make_shared<LayerObservation>();
    hooks_.add(std::move(h));
  }
}

std::map<std::string, LayerObservation> Calibrator::observations() const {
  std::map<std::string, LayerObservation> out;
  for (const auto& h : hooks_.layers()) out[h.name] = *h.observe;
  return out;
}

std::shared_ptr<QuantizedModel> quantize_module(
    torch::nn::Module& root, const std::map<std::string, LayerObservation>& observations,
    const QuantizeOptions& options) {
  torch::NoGradGuard no_grad;
  auto qm = std::make_shared<QuantizedModel>();
  qm->mode = options.mode;
  qm->hooks = std::make_unique<LayerHooks>();
  std::map<const torch::nn::Module*, std::string> names;
  for (const auto& item : root.named_modules("", false)) names[item.value().get()] = item.key();
  const bool is_static = options.mode == QuantMode::static_int8;
  for (const auto& l : quantizable_layers(root)) {
    const auto& keep = options.float_layers;
    if (std::find(keep.begin(), keep.end(), l.name) != keep.end()) {
      qm->float_layers[l.name] = "kept in float32 as asked";
      continue;
    }
    auto obs = observations.find(l.name);
    const bool ran = obs != observations.end() && obs->second.calls > 0;
    if (l.kind == "linear") {
      if (is_static && !ran) {
        qm->float_layers[l.name] = "did not run on the calibration batches";
        continue;
      }
      auto& lin = *l.module->as<torch::nn::Linear>();
      std::optional<ActivationQuant> in;
      if (is_static) in = quant_range_of(obs->second, options.percentile);
      auto cq = quantize_per_channel(lin.weight);
      qm->hooks->add({l.name, lin.weight, nullptr,
                      std::make_shared<Int8Linear>(cq.values, cq.scale, in), nullptr});
      qm->quantized.push_back(l.name);
      continue;
    }
    auto& conv = *l.module->as<torch::nn::Conv2d>();
    std::string why_not;
    auto geometry = quant_conv_geometry(conv, why_not);
    if (!is_static)
      why_not = "dynamic mode quantizes Linear layers only";
    else if (!ran)
      why_not = "did not run on the calibration batches";
    else if (!obs->second.bn)
      why_not = "does not run through the folded conv + batch norm path";
    if (!why_not.empty()) {
      qm->float_layers[l.name] = why_not;
      continue;
    }
    auto& bn = *obs->second.bn;
    auto scale = quant_bn_scale(bn);
    auto folded = conv.weight * scale.reshape({-1, 1, 1, 1});
    auto shift = conv.bias.defined() ? conv.bias - bn.running_mean : -bn.running_mean;
    auto bias = bn.bias + shift * scale;
    auto cq = quantize_per_channel(folded);
    auto kernel = std::make_shared<Int8Conv2d>(
        cq.values, cq.scale, bias, quant_range_of(obs->second, options.percentile), *geometry);
    qm->hooks->add({l.name, conv.weight, nullptr, nullptr, kernel});
    qm->quantized.push_back(l.name);
    qm->folded_bn[l.name] = names.at(&bn);
  }
  return qm;
}

WeightOnlyInt8 quantize_weight_only(const torch::Tensor& weight) {
  TORCH_CHECK(weight.dim() >= 2, "weight-only int8 needs 2 or more dimensions");
  std::vector<int64_t> reduce;  // every axis but the first (and the last, beyond 2-d)
  for (int64_t d = 1; d < weight.dim() - (weight.dim() > 2 ? 1 : 0); ++d) reduce.push_back(d);
  return quantize_symmetric(weight, reduce);
}

torch::Tensor dequantize_weight_only(const WeightOnlyInt8& q) {
  return (q.values.to(torch::kFloat) * q.scale).contiguous();
}

std::map<std::string, torch::Tensor> quantized_state(torch::nn::Module& root, QuantizedModel& model,
                                                     bool weight_only) {
  auto state = module_state(root);
  model.weight_only.clear();
  if (weight_only) {
    std::set<std::string> hooked;
    for (const auto& h : model.hooks->layers()) hooked.insert(h.name + ".weight");
    for (const auto& p : root.named_parameters(/*recurse=*/true)) {
      const auto& w = p.value();
      if (hooked.count(p.key()) || w.dim() < 2 || w.numel() < kWeightOnlyMinSize ||
          w.scalar_type() != torch::kFloat)
        continue;
      auto q = quantize_weight_only(w);
      state.erase(p.key());
      state[p.key() + ".int8"] = q.values;
      state[p.key() + ".int8_scale"] = q.scale;
      model.weight_only.push_back(p.key());
    }
  }
  auto put_input = [&](const std::string& name, const ActivationQuant& q) {
    state[name + ".input_scale"] = torch::tensor({q.scale}, torch::kFloat);
    state[name + ".input_zero_point"] = torch::zeros({1}, torch::kInt);
    state[name + ".input_unsigned"] = torch::tensor({q.is_unsigned ? 1 : 0}, torch::kByte);
  };
  for (const auto& h : model.hooks->layers()) {
    state.erase(h.name + ".weight");
    if (h.linear) {
      state[h.name + ".weight_int8"] = h.linear->weight_int8();
      state[h.name + ".weight_scale"] = h.linear->weight_scale();
      if (h.linear->input()) put_input(h.name, *h.linear->input());
    } else if (h.conv) {
      state[h.name + ".weight_int8"] = h.conv->weight_int8();
      state[h.name + ".weight_scale"] = h.conv->weight_scale();
      state[h.name + ".folded_bias"] = h.conv->bias();
      put_input(h.name, h.conv->input());
      // The folded batch norm is in weight_int8 and folded_bias: its own tensors are not stored.
      const std::string bn = model.folded_bn.at(h.name) + ".";
      for (auto it = state.begin(); it != state.end();) {
        it = it->first.rfind(bn, 0) == 0 ? state.erase(it) : std::next(it);
      }
    }
  }
  return state;
}

std::string quantized_metadata(const QuantizedModel& model) {
  nlohmann::json layers = nlohmann::json::object();
  for (const auto& h : model.hooks->layers()) {
    nlohmann::json l = {{"kind", h.conv ? "conv2d" : "linear"}};
    if (h.conv) l["bn"] = model.folded_bn.at(h.name);
    layers[h.name] = l;
  }
  nlohmann::json floats = nlohmann::json::object();
  for (const auto& [name, why] : model.float_layers) floats[name] = why;
  return nlohmann::json{{"mode", to_string(model.mode)},
                        {"layers", layers},
                        {"float", floats},
                        {"weight_only", model.weight_only}}
      .dump();
}

void save_quantized(const std::string& path, torch::nn::Module& root, QuantizedModel& model,
                    bool weight_only) {
  // The state first: it fills model.weight_only, which the metadata lists.
  auto state = quantized_state(root, model, weight_only);
  save_safetensors(path, state, {{"quantization", quantized_metadata(model)}});
}

bool is_quantized_file(const std::string& path) {
  return load_safetensors(path).metadata.count("quantization") > 0;
}

}  // namespace mmfuse::nn::quant
