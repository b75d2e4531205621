#include "mmfuse/data/pipeline.h"

#include "mmfuse/core/error.h"

namespace mmfuse::data {

ModalityBatch ModalityPipeline::collate(const std::vector<torch::Tensor>& items) const {
  const int64_t batch = static_cast<int64_t>(items.size());
  torch::Tensor like;
  for (const auto& t : items) {
    if (t.defined()) {
      like = t;
      break;
    }
  }
  if (!like.defined()) {
    std::vector<int64_t> shape = item_shape();
    for (auto& d : shape) d = d < 0 ? 1 : d;
    like = torch::zeros(shape);
  }
  auto present = torch::zeros({batch}, torch::kBool);
  std::vector<torch::Tensor> rows;
  rows.reserve(items.size());
  auto present_acc = present.accessor<bool, 1>();
  for (int64_t i = 0; i < batch; ++i) {
    const auto& t = items[static_cast<std::size_t>(i)];
    if (t.defined()) {
      if (t.sizes() != like.sizes()) {
        throw Error(std::string(to_string(modality())) + " items differ in shape (" +
                    c10::str(t.sizes()) + " vs " + c10::str(like.sizes()) +
                    "); use a fixed size or a pipeline that pads");
      }
      rows.push_back(t);
      present_acc[i] = true;
    } else {
      rows.push_back(torch::zeros_like(like));
    }
  }
  return {torch::stack(rows), present, torch::Tensor()};
}

}  // namespace mmfuse::data
