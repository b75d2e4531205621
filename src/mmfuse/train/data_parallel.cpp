#include "mmfuse/train/data_parallel.h"

#include <cmath>

#include "mmfuse/core/error.h"
#include "mmfuse/train/checkpoint.h"

namespace mmfuse::train {

struct DataParallel::Impl {
  DistributedOptions options;
};

DataParallel::DataParallel(const DistributedOptions& options) : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
  if (options.world_size != 1) throw Error("data-parallel training is not available yet");
}

DataParallel::~DataParallel() = default;

int DataParallel::rank() const {
  return 0;
}
int DataParallel::world_size() const {
  return 1;
}
const Collective& DataParallel::collective() const {
  return single_process();
}
void DataParallel::broadcast(torch::nn::Module&) {}
void DataParallel::watch(const std::vector<torch::Tensor>&) {}
void DataParallel::begin_backward(int64_t) {}
void DataParallel::end_backward(int64_t) {}
StepTotals DataParallel::totals(double loss, int64_t samples) {
  return {loss, samples, std::isfinite(loss)};
}
GradientAverager DataParallel::averager() {
  return [](const std::vector<torch::Tensor>&, int64_t local) { return local; };
}
std::vector<torch::Tensor> DataParallel::gather_rng_states() {
  return {cpu_rng_state()};
}
std::shared_ptr<const data::SampleSet> DataParallel::shard(
    const std::shared_ptr<const data::SampleSet>& samples) const {
  return samples;
}
void DataParallel::barrier() {}

}  // namespace mmfuse::train
