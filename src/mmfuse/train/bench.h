// Speed benchmarks: `mmfuse bench --config C` (training throughput and inference latency of one
// model on synthetic inputs) and `mmfuse bench --gemm` (the machine's matrix-product peak).
//
// The model benchmark measures exactly what ../shared/peers/avmnist_peer.py `bench` measures:
//   - inputs: one synthetic batch of `batch` samples (uniform [0,1) features, random labels);
//   - train_samples_per_s: `warmup_train` untimed SGD steps, then `steps` timed steps of
//     forward, loss, zero_grad, backward, update (the peer's bench does not clip gradients);
//   - batch1_p50_ms, batch<B>_p50_ms: eval mode without autograd, `warmup_infer` untimed
//     forwards, then the median of `steps` timed forwards on the first 1 and B samples; through
//     the inference plan (runtime/plan.h) as a loaded run predicts, unless `inference_plan` is
//     false (the module path, for A/B). The result names what oneDNN chose at run time: the CPU
//     instruction set and the plan's primitive implementations ("jit:avx2", "brg:avx2").
// Under torchrun (several processes), only training is measured: each process steps on its own
// batch of `batch` samples with gradients averaged through the data-parallel loop's reducer, and
// train_samples_per_s is the global rate (per-process rate x processes), as the peer's DDP bench
// reports it.
// flops_per_sample counts one training step per sample as 3x the forward FLOPs (forward, and a
// backward of about twice the forward: gradients of inputs and of weights); gflops_achieved is
// train_samples_per_s x flops_per_sample.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mmfuse/core/config.h"
#include "mmfuse/core/memory.h"
#include "mmfuse/data/batch.h"
#include "mmfuse/train/distributed_options.h"

namespace mmfuse::train {

struct BenchOptions {
  /// Samples per training step and per batched forward.
  int64_t batch = 40;
  /// Timed training steps, and timed forwards per latency figure.
  int64_t steps = 50;
  /// Intra-op threads (0: leave torch's default).
  int threads = 0;
  int64_t warmup_train = 5;
  int64_t warmup_infer = 10;
  uint64_t seed = 0;
  /// Measure training (false: inference latency only; train_samples_per_s stays 0).
  bool train = true;
  /// Time inference through the compiled plan (false: the module path).
  bool inference_plan = true;
  /// The processes of a data-parallel bench (torchrun's environment); one by default.
  DistributedOptions distributed;
  /// `--memory-budget`: the report says whether the peak stayed within it.
  MemoryBudget memory;
};

struct BenchResult {
  double train_samples_per_s = 0;
  double batch1_p50_ms = 0;
  double batch_p50_ms = 0;  ///< at BenchOptions::batch
  int64_t batch = 0;
  int64_t params = 0;
  int threads = 0;
  int processes = 1;
  double forward_flops_per_sample = 0;
  double flops_per_sample = 0;  ///< one training step: 3 x forward
  double gflops_achieved = 0;   ///< training
  /// CPU dispatch: oneDNN's effective instruction set, version and threading runtime.
  std::string cpu_isa, onednn_version, onednn_runtime;
  bool inference_plan = false;           ///< whether latency was timed through the plan
  bool fused_training_blocks = false;    ///< LeNet's BN-ReLU-pool fused op in training
  int64_t conv_blocks_per_step = 0;      ///< LeNet blocks run as one oneDNN op per training step
  std::vector<std::string> plan_blocks;  ///< "encoders.image: lenet", "fusion: module", ...
  std::vector<std::string> implementations;  ///< the plan's oneDNN implementation names
  /// mmfuse's own vector loops as chosen for this CPU: "fused_sgd" (avx512, avx2 or plain) and
  /// "single_channel_conv" (avx2, plain or off).
  std::map<std::string, std::string> kernel_loops;
  /// The process peak at the end, with parameters, gradients and optimizer state.
  MemoryReport memory;

  /// The peer's keys (train_samples_per_s, batch1_p50_ms, batch<B>_p50_ms, params, threads)
  /// plus flops_per_sample, forward_flops_per_sample, gflops_achieved, peak_rss_mb, "memory"
  /// (MemoryReport::to_json) and "dispatch" {cpu_isa, onednn_version, onednn_runtime,
  /// inference_plan, fused_training_blocks, onednn_training_blocks_per_step, plan_blocks,
  /// implementations, kernel_loops}.
  nlohmann::json to_json() const;
};

/// Builds the model of `root` (a config with inputs, targets, model and train sections; the
/// optimizer is train.optimizer) and measures it as described above. Throws ConfigError for a
/// bad config.
BenchResult bench_model(const ConfigNode& root, const BenchOptions& options);

struct GemmResult {
  int64_t n = 0;  ///< square size: [n, n] x [n, n]
  int threads = 0;
  double torch_mm_gflops = 0;  ///< torch::mm (LibTorch's BLAS)
  double dnnl_gflops = 0;      ///< oneDNN matmul, the path mmfuse's dense layers use
  double peak_gflops = 0;      ///< the better of the two

  nlohmann::json to_json() const;
};

/// Best of `repeats` timings of an [n, n] x [n, n] float product on each path.
GemmResult bench_gemm(int64_t n, int repeats, int threads);

/// Median of `steps` timed calls of `forward` on `batch` (after `warmup` untimed ones), in
/// milliseconds (the peer's median: times[len(times) // 2] of the sorted times).
double p50_forward_ms(const std::function<void(const data::Batch&)>& forward,
                      const data::Batch& batch, int64_t warmup, int64_t steps);

}  // namespace mmfuse::train
