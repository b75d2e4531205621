#include "mmfuse/optimize/prune_magnitude.h"

#include <cmath>

#include "mmfuse/core/error.h"

namespace mmfuse::optimize {

namespace {

bool is_prunable_layer(const torch::nn::Module& m) {
  return dynamic_cast<const torch::nn::LinearImpl*>(&m) ||
         dynamic_cast<const torch::nn::Conv1dImpl*>(&m) ||
         dynamic_cast<const torch::nn::Conv2dImpl*>(&m) ||
         dynamic_cast<const torch::nn::Conv3dImpl*>(&m);
}

// A flat 0/1 mask of `n` entries with the `count` smallest of `magnitudes` (flat) set to 0;
// a stable sort breaks ties by position.
torch::Tensor smallest_entries_mask(const torch::Tensor& magnitudes, int64_t count) {
  auto mask = torch::ones_like(magnitudes);
  if (count <= 0) return mask;
  auto order = std::get<1>(torch::sort(magnitudes, /*stable=*/true, /*dim=*/0,
                                       /*descending=*/false));
  mask.index_fill_(0, order.slice(0, 0, count), 0.0);
  return mask;
}

int64_t pruned_count(double amount, int64_t n) {
  return std::min<int64_t>(n, std::llround(amount * static_cast<double>(n)));
}

}  // namespace

NamedWeights prunable_weights(const torch::nn::Module& module) {
  NamedWeights out;
  for (const auto& item : module.named_modules()) {
    if (!is_prunable_layer(*item.value())) continue;
    const auto own = item.value()->named_parameters(/*recurse=*/false);
    const auto* weight = own.find("weight");
    if (weight == nullptr || !weight->defined()) continue;
    out.emplace_back(item.key().empty() ? "weight" : item.key() + ".weight", *weight);
  }
  return out;
}

std::map<std::string, torch::Tensor> magnitude_masks(const NamedWeights& weights, double amount,
                                                     PruneScope scope) {
  if (!(amount >= 0.0 && amount < 1.0)) {
    throw UsageError("pruning amount: expected a fraction in [0, 1), got " +
                     std::to_string(amount) + " (0.5 removes half of the weights)");
  }
  torch::NoGradGuard no_grad;
  std::map<std::string, torch::Tensor> masks;
  if (scope == PruneScope::layer) {
    for (const auto& [name, w] : weights) {
      auto flat = w.detach().abs().reshape({-1}).to(torch::kFloat);
      auto mask = smallest_entries_mask(flat, pruned_count(amount, flat.numel()));
      masks[name] = mask.view(w.sizes()).to(w.options());
    }
    return masks;
  }
  std::vector<torch::Tensor> flats;
  for (const auto& entry : weights) {
    flats.push_back(entry.second.detach().abs().reshape({-1}).to(torch::kCPU, torch::kFloat));
  }
  if (flats.empty()) return masks;
  auto all = torch::cat(flats);
  auto mask = smallest_entries_mask(all, pruned_count(amount, all.numel()));
  int64_t offset = 0;
  for (const auto& [name, w] : weights) {
    const int64_t n = w.numel();
    masks[name] = mask.slice(0, offset, offset + n).view(w.sizes()).to(w.options());
    offset += n;
  }
  return masks;
}

void apply_masks(torch::nn::Module& module, const std::map<std::string, torch::Tensor>& masks) {
  torch::NoGradGuard no_grad;
  auto params = module.named_parameters(true);
  for (const auto& [name, mask] : masks) {
    auto* w = params.find(name);
    if (w == nullptr) {
      throw Error("pruning mask '" + name + "' has no weight in the model; the mask was made " +
                  "for another model");
    }
    if (!w->sizes().equals(mask.sizes())) {
      throw Error("pruning mask '" + name + "' has shape " + c10::str(mask.sizes()) +
                  ", the weight " + c10::str(w->sizes()));
    }
    w->mul_(mask.to(w->device(), w->scalar_type()));
  }
}

std::vector<LayerSparsity> weight_sparsity(const torch::nn::Module& module) {
  std::vector<LayerSparsity> out;
  LayerSparsity overall;
  overall.name = "overall";
  for (const auto& [name, w] : prunable_weights(module)) {
    LayerSparsity s;
    s.name = name;
    s.shape = w.sizes().vec();
    s.total = w.numel();
    s.zeros = s.total - w.count_nonzero().item<int64_t>();
    overall.zeros += s.zeros;
    overall.total += s.total;
    out.push_back(std::move(s));
  }
  out.push_back(overall);
  return out;
}

}  // namespace mmfuse::optimize
