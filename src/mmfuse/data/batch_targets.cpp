#include "mmfuse/data/batch_targets.h"

#include <limits>

namespace mmfuse::data {
namespace {

/// [B] int64: each sample's class index, -1 where it has no label.
torch::Tensor class_targets(const LabelMap& map, const std::string& name,
                            const std::vector<const Sample*>& samples) {
  const auto n = static_cast<int64_t>(samples.size());
  auto y = torch::full({n}, -1, torch::kLong);
  auto acc = y.accessor<int64_t, 1>();
  for (int64_t i = 0; i < n; ++i) {
    const auto& targets = samples[static_cast<std::size_t>(i)]->targets;
    auto it = targets.find(name);
    if (it != targets.end()) acc[i] = map.index(std::get<std::string>(it->second));
  }
  return y;
}

/// [B, width] float: each sample's values, NaN where unknown.
torch::Tensor regression_targets(int64_t width, const std::string& name,
                                 const std::vector<const Sample*>& samples) {
  const auto n = static_cast<int64_t>(samples.size());
  auto y = torch::full({n, width}, std::numeric_limits<float>::quiet_NaN());
  auto acc = y.accessor<float, 2>();
  for (int64_t i = 0; i < n; ++i) {
    const auto& targets = samples[static_cast<std::size_t>(i)]->targets;
    auto it = targets.find(name);
    if (it == targets.end()) continue;
    const auto& v = std::get<std::vector<float>>(it->second);
    for (int64_t k = 0; k < width && k < static_cast<int64_t>(v.size()); ++k) acc[i][k] = v[k];
  }
  return y;
}

}  // namespace

std::map<std::string, torch::Tensor> collate_targets(const Dataset& ds,
                                                     const std::vector<const Sample*>& samples) {
  std::map<std::string, torch::Tensor> out;
  for (const auto& t : ds.targets()) {
    out[t.name] = t.kind == TargetKind::class_label
                      ? class_targets(ds.label_map(t.name), t.name, samples)
                      : regression_targets(ds.regression_width(t.name), t.name, samples);
  }
  return out;
}

}  // namespace mmfuse::data
