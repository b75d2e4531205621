#include "mmfuse/data/batch.h"

#include "mmfuse/core/error.h"

namespace mmfuse::data {

namespace {
torch::Tensor move(const torch::Tensor& t, const torch::Device& d) {
  return t.defined() ? t.to(d, /*non_blocking=*/true) : t;
}
}  // namespace

ModalityBatch ModalityBatch::to(const torch::Device& device) const {
  return {move(data, device), move(present, device), move(lengths, device)};
}

const ModalityBatch& Batch::at(Modality m) const {
  const auto& slot = inputs[index_of(m)];
  if (!slot) {
    throw Error("batch has no " + std::string(to_string(m)) +
                " input; the dataset spec must list this modality");
  }
  return *slot;
}

Batch Batch::to(const torch::Device& device) const {
  Batch out;
  out.ids = ids;
  for (std::size_t i = 0; i < kNumModalities; ++i) {
    if (inputs[i]) out.inputs[i] = inputs[i]->to(device);
  }
  for (const auto& [name, t] : targets) out.targets[name] = move(t, device);
  return out;
}

int64_t Batch::nbytes() const {
  int64_t n = 0;
  auto add = [&n](const torch::Tensor& t) {
    if (t.defined()) n += static_cast<int64_t>(t.storage().nbytes());
  };
  for (const auto& in : inputs) {
    if (!in) continue;
    add(in->data);
    add(in->present);
    add(in->lengths);
  }
  for (const auto& [name, t] : targets) add(t);
  return n;
}

}  // namespace mmfuse::data
