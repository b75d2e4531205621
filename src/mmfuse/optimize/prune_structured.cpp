#include "mmfuse/optimize/prune_structured.h"

#include <cmath>
#include <sstream>

#include "mmfuse/core/error.h"
#include "mmfuse/core/safetensors.h"

namespace mmfuse::optimize {

namespace {

// One Linear/Conv layer of a Sequential chain, with the BatchNorm that follows it (if any).
struct ChainLayer {
  std::string name;  // module name from the model's root
  bool conv = false;
  std::string norm;  // BatchNorm module name, "" when none
};

bool is_channelwise_module(const torch::nn::Module& m) {
  return dynamic_cast<const torch::nn::ReLUImpl*>(&m) ||
         dynamic_cast<const torch::nn::TanhImpl*>(&m) ||
         dynamic_cast<const torch::nn::GELUImpl*>(&m) ||
         dynamic_cast<const torch::nn::DropoutImpl*>(&m) ||
         dynamic_cast<const torch::nn::MaxPool2dImpl*>(&m) ||
         dynamic_cast<const torch::nn::MaxPool1dImpl*>(&m) ||
         dynamic_cast<const torch::nn::IdentityImpl*>(&m);
}

std::string pruned_module_type_name(const torch::nn::Module& m) {
  std::string n = m.name();
  const auto colon = n.rfind("::");
  if (colon != std::string::npos) n = n.substr(colon + 2);
  if (n.size() > 4 && n.compare(n.size() - 4, 4, "Impl") == 0) n.resize(n.size() - 4);
  return n;
}

// The layers of `block`'s Sequential "net", in order. Throws Error naming a module that does
// not act on each channel on its own (slicing through it would change the outputs).
std::vector<ChainLayer> sequential_chain(const torch::nn::Module& block, const std::string& prefix,
                                         const std::string& block_desc) {
  const auto children = block.named_children();
  const auto* net = children.find("net");
  if (net == nullptr || !dynamic_cast<const torch::nn::SequentialImpl*>(net->get())) {
    throw Error("structured pruning: " + block_desc + " has no Sequential 'net' to slice");
  }
  std::vector<ChainLayer> layers;
  for (const auto& item : (*net)->named_children()) {
    const torch::nn::Module& m = *item.value();
    const std::string name = prefix + "net." + item.key();
    const bool linear = dynamic_cast<const torch::nn::LinearImpl*>(&m) != nullptr;
    const bool conv = dynamic_cast<const torch::nn::Conv2dImpl*>(&m) != nullptr ||
                      dynamic_cast<const torch::nn::Conv1dImpl*>(&m) != nullptr;
    if (linear || conv) {
      if (!layers.empty() && layers.back().conv != conv) {
        throw Error("structured pruning: " + block_desc +
                    " mixes convolutions and Linear layers at " + name +
                    "; only chains of one kind are sliced");
      }
      layers.push_back({name, conv, ""});
    } else if (dynamic_cast<const torch::nn::BatchNorm1dImpl*>(&m) ||
               dynamic_cast<const torch::nn::BatchNorm2dImpl*>(&m)) {
      if (layers.empty() || !layers.back().norm.empty()) {
        throw Error("structured pruning: " + block_desc + ": batch norm " + name +
                    " does not follow a Linear or Conv layer");
      }
      layers.back().norm = name;
    } else if (!is_channelwise_module(m)) {
      throw Error("structured pruning cannot slice through " + name + " (" +
                  pruned_module_type_name(m) + ") of " + block_desc +
                  ": it mixes channels; use unstructured pruning (without --structured)");
    }
  }
  return layers;
}

torch::Tensor output_channel_scores(const torch::Tensor& w, ChannelNorm norm) {
  auto flat = w.detach().flatten(1).to(torch::kFloat);
  return norm == ChannelNorm::l1 ? flat.abs().sum(1) : flat.pow(2).sum(1).sqrt();
}

// Indices (ascending) of the `keep` highest scores; ties keep the earlier channel.
torch::Tensor highest_score_indices(const torch::Tensor& scores, int64_t keep) {
  auto order = std::get<1>(torch::sort(scores, /*stable=*/true, /*dim=*/0, /*descending=*/true));
  return std::get<0>(torch::sort(order.slice(0, 0, keep)));
}

void select_pruned_rows(std::map<std::string, torch::Tensor>& state, const std::string& name,
                        int64_t dim, const torch::Tensor& index) {
  auto it = state.find(name);
  if (it == state.end() || !it->second.defined()) return;
  it->second = it->second.index_select(dim, index.to(it->second.device())).contiguous();
}

// Prunes the outputs of every layer of `chain` but the last; returns the new output widths of
// all layers (the last one unchanged).
std::vector<int64_t> prune_chain(const std::vector<ChainLayer>& chain, double amount,
                                 ChannelNorm norm, StructuredPlan& plan) {
  std::vector<int64_t> widths;
  for (std::size_t i = 0; i < chain.size(); ++i) {
    const torch::Tensor& w = plan.state.at(chain[i].name + ".weight");
    const int64_t n = w.size(0);
    if (i + 1 == chain.size()) {
      widths.push_back(n);
      break;
    }
    const int64_t removed = std::min<int64_t>(n - 1, std::llround(amount * static_cast<double>(n)));
    auto keep = highest_score_indices(output_channel_scores(w, norm), n - removed);
    for (const char* p : {".weight", ".bias"})
      select_pruned_rows(plan.state, chain[i].name + p, 0, keep);
    if (!chain[i].norm.empty()) {
      for (const char* p : {".weight", ".bias", ".running_mean", ".running_var"}) {
        select_pruned_rows(plan.state, chain[i].norm + p, 0, keep);
      }
    }
    select_pruned_rows(plan.state, chain[i + 1].name + ".weight", 1, keep);
    PrunedLayer layer{chain[i].name, chain[i].norm, n, {}};
    auto k = keep.to(torch::kLong).contiguous();
    layer.kept.assign(k.data_ptr<int64_t>(), k.data_ptr<int64_t>() + k.numel());
    plan.layers.push_back(std::move(layer));
    widths.push_back(n - removed);
  }
  return widths;
}

std::string prune_yaml_list(const std::vector<int64_t>& v) {
  std::ostringstream s;
  s << "[";
  for (std::size_t i = 0; i < v.size(); ++i) s << (i ? ", " : "") << v[i];
  s << "]";
  return s.str();
}

bool block_has_parameters(const torch::nn::Module& m) {
  return !m.parameters(true).empty();
}

// One encoder (family "encoders") or head ("heads") named `key`.
void prune_block(const std::string& family, const std::string& key, const torch::nn::Module& block,
                 double amount, ChannelNorm norm, StructuredPlan& plan) {
  const std::string prefix = family + "." + key + ".";
  const ConfigNode cfg = plan.config["model"][family][key];
  const std::string type = cfg.get<std::string>("type", "");
  const std::string desc = family + "." + key + " (type " + type + ")";
  const bool encoder = family == "encoders";
  const bool chain_type = type == "lenet" || (type == "mlp");
  if (!chain_type) {
    if (!block_has_parameters(block) || (!encoder && type == "linear")) {
      plan.kept.push_back(desc + ": no hidden width to prune");
      return;
    }
    throw Error("structured pruning does not support " + desc +
                "; supported: lenet and mlp encoders, mlp and linear heads; prune this run "
                "without --structured (unstructured magnitude pruning covers every block)");
  }
  const auto chain = sequential_chain(block, prefix, desc);
  if (chain.empty()) throw Error("structured pruning: " + desc + " has no layer to prune");
  const auto widths = prune_chain(chain, amount, norm, plan);
  plan.kept.push_back(chain.back().name + ": " +
                      (encoder ? "the output width of " + desc + " (the fusion's input)"
                               : "the outputs of " + desc + " (the target's size)"));
  const std::string path = "model." + family + "." + key + ".";
  std::vector<int64_t> hidden(widths.begin(), widths.end() - (encoder ? 0 : 1));
  if (type == "lenet") {
    plan.config.set_override(path + "widths=" + prune_yaml_list(widths));
  } else if (encoder) {
    plan.config.set_override(path + "hidden=" + prune_yaml_list(widths));
  } else {
    if (hidden.size() != 1)
      throw Error("structured pruning: " + desc + " has no single hidden layer");
    plan.config.set_override(path + "hidden=" + std::to_string(hidden[0]));
  }
}

}  // namespace

StructuredPlan plan_structured_pruning(const torch::nn::Module& model, const ConfigNode& run_config,
                                       double amount, ChannelNorm norm) {
  if (!(amount >= 0.0 && amount < 1.0)) {
    throw UsageError("pruning amount: expected a fraction in [0, 1), got " +
                     std::to_string(amount) + " (0.5 removes half of each layer's channels)");
  }
  torch::NoGradGuard no_grad;
  StructuredPlan plan;
  plan.config = ConfigNode::parse(run_config.dump() + "\n", run_config.source());
  for (const auto& [name, t] : module_state(model)) plan.state[name] = t.detach();
  const auto children = model.named_children();
  for (const char* family : {"encoders", "heads"}) {
    const auto* dict = children.find(family);
    if (dict == nullptr) {
      throw Error(
          "structured pruning needs a supervised model (encoders and heads); this run's "
          "model has no '" +
          std::string(family) + "'");
    }
    for (const auto& item : (*dict)->named_children()) {
      prune_block(family, item.key(), *item.value(), amount, norm, plan);
    }
  }
  for (const char* contract : {"fusion", "high_level"}) {
    const auto* m = children.find(contract);
    if (m != nullptr && block_has_parameters(**m)) {
      plan.kept.push_back(std::string(contract) +
                          ": its sizes are the encoders' and heads' contract");
    }
  }
  return plan;
}

}  // namespace mmfuse::optimize
