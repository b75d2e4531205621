#include "mmfuse/data/precomputed.h"

#include <map>
#include <mutex>
#include <utility>

namespace mmfuse::data {

namespace {

using PrecomputedKey = std::pair<const Dataset*, int>;

std::mutex& precomputed_mutex() {
  static std::mutex mu;
  return mu;
}

std::map<PrecomputedKey, std::shared_ptr<const PrecomputedEncodings>>& precomputed_table() {
  static std::map<PrecomputedKey, std::shared_ptr<const PrecomputedEncodings>> table;
  return table;
}

}  // namespace

void set_precomputed(const Dataset& dataset, Modality m,
                     std::shared_ptr<const PrecomputedEncodings> encodings) {
  std::lock_guard<std::mutex> lock(precomputed_mutex());
  const PrecomputedKey key{&dataset, static_cast<int>(index_of(m))};
  if (encodings) {
    precomputed_table()[key] = std::move(encodings);
  } else {
    precomputed_table().erase(key);
  }
}

std::shared_ptr<const PrecomputedEncodings> precomputed_for(const Dataset& dataset, Modality m) {
  std::lock_guard<std::mutex> lock(precomputed_mutex());
  auto it = precomputed_table().find({&dataset, static_cast<int>(index_of(m))});
  return it == precomputed_table().end() ? nullptr : it->second;
}

ModalityBatch collate_precomputed(const std::vector<torch::Tensor>& rows) {
  const auto n = static_cast<int64_t>(rows.size());
  int64_t dim = 0;
  for (const auto& r : rows) {
    if (r.defined()) dim = r.numel();
  }
  ModalityBatch out;
  out.data = torch::zeros({n, dim});              // [B, D]
  out.present = torch::zeros({n}, torch::kBool);  // [B]
  for (int64_t i = 0; i < n; ++i) {
    const torch::Tensor& r = rows[static_cast<std::size_t>(i)];
    if (!r.defined()) continue;
    out.data[i].copy_(r.reshape({-1}));
    out.present[i] = true;
  }
  return out;
}

}  // namespace mmfuse::data
