// GradientReducer step time: forward + backward + gradient allreduce + SGD step of an MLP with
// ~1.5M parameters, with the bucket allreduces overlapped with backward or all after it.
// Run one process per rank with torchrun's variables (bench/ddp_reducer.sh starts 2 locally);
// rank 0 prints one JSON line per mode. Without WORLD_SIZE it times a single process.
//   bench_ddp_reducer [steps=200] [per_rank_batch=64] [bucket_mb=25]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <torch/torch.h>

#include "mmfuse/train/distributed.h"
#include "mmfuse/train/gradient_reducer.h"

using namespace mmfuse::train;

namespace {

double run(const std::shared_ptr<Communicator>& comm, bool overlap, int steps, int64_t batch,
           double bucket_mb, int64_t& num_buckets, int64_t& num_params) {
  torch::manual_seed(1);
  torch::nn::Sequential model(torch::nn::Linear(256, 1024), torch::nn::ReLU(),
                              torch::nn::Linear(1024, 1024), torch::nn::ReLU(),
                              torch::nn::Linear(1024, 256));
  num_params = 0;
  for (const auto& p : model->parameters()) num_params += p.numel();
  broadcast_state(*comm, *model);
  GradientReducerOptions o;
  o.overlap = overlap;
  o.bucket_mb = bucket_mb;
  GradientReducer reducer(comm, model->parameters(), o);
  num_buckets = reducer.num_buckets();
  torch::optim::SGD opt(model->parameters(), torch::optim::SGDOptions(0.01));
  torch::manual_seed(2 + comm->rank());
  const auto x = torch::randn({batch, 256});
  const auto y = torch::randn({batch, 256});
  auto step = [&] {
    opt.zero_grad();
    reducer.prepare(batch);
    torch::mse_loss(model->forward(x), y).backward();
    reducer.finish(batch * comm->world_size());
    opt.step();
  };
  for (int i = 0; i < 10; ++i) step();  // warm-up
  comm->barrier();
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) step();
  comm->barrier();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  const int steps = argc > 1 ? std::atoi(argv[1]) : 200;
  const int64_t batch = argc > 2 ? std::atoll(argv[2]) : 64;
  const double bucket_mb = argc > 3 ? std::atof(argv[3]) : 25.0;
  try {
    auto comm = std::make_shared<Communicator>(DistributedOptions::from_environment());
    for (bool overlap : {true, false}) {
      int64_t buckets = 0, params = 0;
      const double seconds = run(comm, overlap, steps, batch, bucket_mb, buckets, params);
      if (comm->is_main()) {
        std::printf(
            "{\"bench\": \"ddp_reducer\", \"world_size\": %d, \"overlap\": %s, \"steps\": %d, "
            "\"per_rank_batch\": %lld, \"params\": %lld, \"buckets\": %lld, \"bucket_mb\": %g, "
            "\"seconds\": %.3f, \"ms_per_step\": %.3f}\n",
            comm->world_size(), overlap ? "true" : "false", steps, static_cast<long long>(batch),
            static_cast<long long>(params), static_cast<long long>(buckets), bucket_mb, seconds,
            1000.0 * seconds / steps);
        std::fflush(stdout);
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_ddp_reducer: %s\n", e.what());
    return 1;
  }
  return 0;
}
