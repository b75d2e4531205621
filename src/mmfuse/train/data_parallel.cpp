#include "mmfuse/train/data_parallel.h"

#include <cmath>

#include "mmfuse/core/error.h"
#include "mmfuse/data/loader.h"
#include "mmfuse/train/checkpoint.h"
#include "mmfuse/train/distributed.h"
#include "mmfuse/train/gradient_reducer.h"

namespace mmfuse::train {

namespace {

// Evaluation results of the processes combined through the process group.
class GroupCollective : public Collective {
 public:
  explicit GroupCollective(std::shared_ptr<Communicator> comm) : comm_(std::move(comm)) {}
  int rank() const override { return comm_->rank(); }
  int world_size() const override { return comm_->world_size(); }
  torch::Tensor gather(const torch::Tensor& local) const override {
    return comm_->all_gather_cat(local.contiguous());
  }
  void sum(std::vector<double>& values) const override {
    if (values.empty()) return;
    std::vector<torch::Tensor> t = {torch::tensor(values, torch::kDouble)};
    comm_->allreduce_sum(t);
    const auto acc = t[0].accessor<double, 1>();
    for (std::size_t i = 0; i < values.size(); ++i) values[i] = acc[static_cast<int64_t>(i)];
  }

 private:
  std::shared_ptr<Communicator> comm_;
};

// grads of `params` (zeros where undefined) scaled by `local`, and the sample count, summed over
// the processes; gradients become sum / global count. Returns the global count.
int64_t average(Communicator& comm, const std::vector<torch::Tensor>& params, int64_t local) {
  std::vector<torch::Tensor> flat;
  for (const auto& p : params) {
    flat.push_back(p.grad().defined() ? p.grad().detach().to(torch::kDouble) * double(local)
                                      : torch::zeros(p.sizes(), torch::kDouble));
  }
  flat.push_back(torch::tensor({static_cast<double>(local)}, torch::kDouble));
  comm.allreduce_sum(flat);
  const auto global = static_cast<int64_t>(std::llround(flat.back().item<double>()));
  if (global == 0) return 0;
  torch::NoGradGuard no_grad;
  for (std::size_t i = 0; i < params.size(); ++i) {
    auto g = (flat[i] / static_cast<double>(global)).to(params[i].options());
    auto& p = const_cast<torch::Tensor&>(params[i]);
    if (p.grad().defined()) {
      p.mutable_grad().copy_(g);
    } else {
      p.mutable_grad() = g;
    }
  }
  return global;
}

}  // namespace

struct DataParallel::Impl {
  DistributedOptions options;
  std::shared_ptr<Communicator> comm;  // null with one process
  std::unique_ptr<GroupCollective> collective;
  std::unique_ptr<GradientReducer> reducer;
  GradientReducerOptions reducer_options;
};

DataParallel::DataParallel(const DistributedOptions& options, const torch::Device& device,
                           const GradientReducerOptions& reducer)
    : impl_(std::make_unique<Impl>()) {
  impl_->options = options;
  impl_->reducer_options = reducer;
  if (options.world_size > 1) {
    impl_->comm = std::make_shared<Communicator>(options, device);
    impl_->collective = std::make_unique<GroupCollective>(impl_->comm);
  }
}

DataParallel::~DataParallel() = default;

int DataParallel::rank() const {
  return impl_->comm ? impl_->comm->rank() : 0;
}

int DataParallel::world_size() const {
  return impl_->comm ? impl_->comm->world_size() : 1;
}

const Collective& DataParallel::collective() const {
  return impl_->collective ? static_cast<const Collective&>(*impl_->collective) : single_process();
}

void DataParallel::broadcast(torch::nn::Module& module) {
  if (impl_->comm) broadcast_state(*impl_->comm, module);
}

void DataParallel::watch(const std::vector<torch::Tensor>& params) {
  if (impl_->comm) {
    impl_->reducer = std::make_unique<GradientReducer>(impl_->comm, params, impl_->reducer_options);
  }
}

void DataParallel::begin_backward(int64_t local_samples) {
  if (impl_->reducer) impl_->reducer->prepare(local_samples);
}

void DataParallel::end_backward(int64_t global_samples) {
  if (impl_->reducer) impl_->reducer->finish(global_samples);
}

StepTotals DataParallel::totals(double loss, int64_t samples) {
  const bool finite = std::isfinite(loss);
  if (!impl_->comm) return {loss, samples, finite};
  std::vector<double> v = {finite ? loss * static_cast<double>(samples) : 0.0,
                           static_cast<double>(samples), finite ? 0.0 : 1.0};
  collective().sum(v);
  StepTotals t;
  t.samples = static_cast<int64_t>(std::llround(v[1]));
  t.loss = t.samples > 0 ? v[0] / v[1] : 0.0;
  t.finite = v[2] == 0.0;
  return t;
}

GradientAverager DataParallel::averager() {
  auto comm = impl_->comm;
  if (!comm) return [](const std::vector<torch::Tensor>&, int64_t local) { return local; };
  return [comm](const std::vector<torch::Tensor>& params, int64_t local) {
    return average(*comm, params, local);
  };
}

std::vector<torch::Tensor> DataParallel::gather_rng_states() {
  const torch::Tensor mine = cpu_rng_state();
  if (!impl_->comm) return {mine};
  const auto all = impl_->comm->all_gather_cat(mine.unsqueeze(0));  // [W, S]
  if (!is_main()) return {};
  std::vector<torch::Tensor> out;
  for (int64_t r = 0; r < all.size(0); ++r) out.push_back(all[r].clone());
  return out;
}

std::shared_ptr<const data::SampleSet> DataParallel::shard(
    const std::shared_ptr<const data::SampleSet>& samples) const {
  return impl_->comm ? data::shard(samples, rank(), world_size()) : samples;
}

void DataParallel::barrier() {
  if (impl_->comm) impl_->comm->barrier();
}

}  // namespace mmfuse::train
