#include "mmfuse/train/bench.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <vector>

#include "mmfuse/models/build.h"
#include "mmfuse/models/summary.h"
#include "mmfuse/nn/dnnl_gemm.h"
#include "mmfuse/nn/encoders/bn_relu_pool.h"
#include "mmfuse/nn/encoders/conv_block.h"
#include "mmfuse/nn/encoders/single_channel_conv.h"
#include "mmfuse/runtime/plan.h"
#include "mmfuse/train/data_parallel.h"
#include "mmfuse/train/fused_sgd.h"
#include "mmfuse/train/losses.h"
#include "mmfuse/train/memory_report.h"
#include "mmfuse/train/optimizer.h"
#include "mmfuse/train/train_config.h"

namespace mmfuse::train {

namespace {

using BenchClock = std::chrono::steady_clock;

double bench_seconds_since(BenchClock::time_point t0) {
  return std::chrono::duration<double>(BenchClock::now() - t0).count();
}

/// The first `n` samples of `b` (every modality and target).
data::Batch head_of(const data::Batch& b, int64_t n) {
  data::Batch out;
  out.ids.assign(b.ids.begin(), b.ids.begin() + n);
  for (std::size_t i = 0; i < b.inputs.size(); ++i) {
    if (!b.inputs[i]) continue;
    data::ModalityBatch m = *b.inputs[i];
    m.data = m.data.narrow(0, 0, n);
    m.present = m.present.narrow(0, 0, n);
    if (m.lengths.defined()) m.lengths = m.lengths.narrow(0, 0, n);
    out.inputs[i] = m;
  }
  for (const auto& [name, t] : b.targets) out.targets[name] = t.narrow(0, 0, n);
  return out;
}

}  // namespace

double p50_forward_ms(const std::function<void(const data::Batch&)>& forward,
                      const data::Batch& batch, int64_t warmup, int64_t steps) {
  for (int64_t i = 0; i < warmup; ++i) forward(batch);
  std::vector<double> ms;
  ms.reserve(static_cast<std::size_t>(steps));
  for (int64_t i = 0; i < steps; ++i) {
    auto t0 = BenchClock::now();
    forward(batch);
    ms.push_back(1000.0 * bench_seconds_since(t0));
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];  // as the peer: times[len(times) // 2]
}

nlohmann::json BenchResult::to_json() const {
  return {{"batch", batch},
          {"train_samples_per_s", train_samples_per_s},
          {"batch1_p50_ms", batch1_p50_ms},
          {"batch" + std::to_string(batch) + "_p50_ms", batch_p50_ms},
          {"params", params},
          {"threads", threads},
          {"processes", processes},
          {"forward_flops_per_sample", forward_flops_per_sample},
          {"flops_per_sample", flops_per_sample},
          {"gflops_achieved", gflops_achieved},
          {"peak_rss_mb", memory.process.peak_bytes / kMiB},
          {"memory", memory.to_json()},
          {"dispatch",
           {{"cpu_isa", cpu_isa},
            {"onednn_version", onednn_version},
            {"onednn_runtime", onednn_runtime},
            {"inference_plan", inference_plan},
            {"fused_training_blocks", fused_training_blocks},
            {"onednn_training_blocks_per_step", conv_blocks_per_step},
            {"plan_blocks", plan_blocks},
            {"implementations", implementations},
            {"kernel_loops", kernel_loops}}}};
}

namespace {

// The loops mmfuse's own kernels run on this CPU (the best each supports).
std::map<std::string, std::string> kernel_loops() {
  const auto sgd = fused_sgd_loops().back();  // plain first, the best last
  const auto conv = encoders::best_single_channel_loop();
  return {{"fused_sgd", sgd == FusedSgdLoop::avx512 ? "avx512"
                        : sgd == FusedSgdLoop::avx2 ? "avx2"
                                                    : "plain"},
          {"single_channel_conv", !encoders::single_channel_kernels()         ? "off"
                                  : conv == encoders::SingleChannelLoop::avx2 ? "avx2"
                                                                              : "plain"}};
}

}  // namespace

namespace {

/// Warm-up steps, then `o.steps` timed steps: samples a second over every process, GFLOP/s and
/// fused convolution blocks a step.
void time_training(const std::function<void()>& step, DataParallel& dp, const BenchOptions& o,
                   BenchResult& r) {
  for (int64_t i = 0; i < o.warmup_train; ++i) step();
  dp.barrier();
  const int64_t blocks_before = encoders::conv_blocks_run();
  auto t0 = BenchClock::now();
  for (int64_t i = 0; i < o.steps; ++i) step();
  if (o.steps > 0) r.conv_blocks_per_step = (encoders::conv_blocks_run() - blocks_before) / o.steps;
  r.train_samples_per_s =
      static_cast<double>(o.batch * o.steps * dp.world_size()) / bench_seconds_since(t0);
  r.gflops_achieved = r.train_samples_per_s * r.flops_per_sample / 1e9;
}

/// Median forward latency at batch 1 and at the bench batch, on the module or its inference
/// plan, with the oneDNN build and what the plan compiled.
void measure_inference(models::MultimodalModel& model, const data::Batch& batch,
                       const BenchOptions& o, BenchResult& r) {
  model->eval();
  c10::InferenceMode no_autograd;
  r.cpu_isa = runtime::onednn_cpu_isa();
  r.onednn_version = runtime::onednn_version();
  r.onednn_runtime = runtime::onednn_runtime();
  std::function<void(const data::Batch&)> forward = [&](const data::Batch& b) {
    (void)model->forward(b);
  };
  std::shared_ptr<const runtime::InferencePlan> plan;
  if (o.inference_plan) {
    plan = std::make_shared<const runtime::InferencePlan>(model);
    forward = [&plan](const data::Batch& b) { (void)plan->forward(b); };
  }
  r.batch1_p50_ms = p50_forward_ms(forward, head_of(batch, 1), o.warmup_infer, o.steps);
  r.batch_p50_ms = p50_forward_ms(forward, batch, o.warmup_infer, o.steps);
  if (plan) {
    r.inference_plan = true;
    for (const auto& b : plan->blocks()) {
      r.plan_blocks.push_back(b.block + ": " + (b.compiler.empty() ? "module" : b.compiler));
    }
    r.implementations = plan->implementations();
  }
}

}  // namespace

BenchResult bench_model(const ConfigNode& root, const BenchOptions& o) {
  if (o.threads > 0) at::set_num_threads(o.threads);
  torch::manual_seed(o.seed);
  models::ModelInputs inputs;
  models::MultimodalModel model = models::build_model_from_config(root, {}, &inputs);
  TrainConfig tc = TrainConfig::from_config(root["train"]);
  auto optimizer = make_optimizer(tc.optimizer, model->parameters());
  std::map<std::string, LossOptions> losses;
  for (const auto& h : model->heads()) {
    losses[h.target] = LossOptions::from_config(tc.losses[h.target], h.spec.kind, h.spec.size);
  }
  const auto weights = model->loss_weights();
  const data::Batch batch = models::example_batch(inputs, o.batch);

  BenchResult r;
  r.batch = o.batch;
  r.threads = at::get_num_threads();
  r.fused_training_blocks = encoders::fused_blocks();
  r.kernel_loops = kernel_loops();
  for (const auto& p : model->parameters()) r.params += p.numel();
  r.forward_flops_per_sample = models::summarize_model(model, inputs).flops.total;
  r.flops_per_sample = 3 * r.forward_flops_per_sample;

  GradientReducerOptions ro;
  ro.bucket_mb = tc.bucket_mb;
  ro.overlap = tc.overlap;
  DataParallel dp(o.distributed, torch::kCPU, ro);
  r.processes = dp.world_size();
  dp.broadcast(*model);
  dp.watch(model->parameters());
  auto step = [&] {
    const nn::SmallProductsOnDnnl small_products;  // as the trainer's steps
    auto out = model->forward(batch);
    torch::Tensor loss;
    for (const auto& [target, y] : out.outputs) {
      auto l = weights.at(target) * task_loss(losses.at(target), y, batch.targets.at(target));
      loss = loss.defined() ? loss + l : l;
    }
    for (const auto& [name, l] : out.losses) loss = loss + l;
    optimizer->zero_grad();
    dp.begin_backward(o.batch);
    loss.backward();
    dp.end_backward(o.batch * dp.world_size());
    optimizer->step();
  };
  if (o.train || dp.world_size() > 1) {
    model->train();
    time_training(step, dp, o, r);
  }
  auto measure_memory = [&] {
    r.memory = MemoryReport::measure(o.memory);
    r.memory.add("parameters", parameter_bytes(*model.ptr()));
    r.memory.add("gradients", gradient_bytes(*model.ptr()));
    r.memory.add("optimizer_state", optimizer_state_bytes(*optimizer));
  };
  if (dp.world_size() > 1) {
    measure_memory();
    return r;  // latency is a one-process figure
  }

  measure_inference(model, batch, o, r);
  measure_memory();
  return r;
}

nlohmann::json GemmResult::to_json() const {
  return {{"n", n},
          {"threads", threads},
          {"torch_mm_gflops", torch_mm_gflops},
          {"dnnl_gflops", dnnl_gflops},
          {"peak_gflops", peak_gflops}};
}

GemmResult bench_gemm(int64_t n, int repeats, int threads) {
  if (threads > 0) at::set_num_threads(threads);
  torch::manual_seed(0);
  const torch::Tensor a = torch::rand({n, n}), b = torch::rand({n, n});
  const double flops = 2.0 * n * n * n;
  auto best_gflops = [&](auto&& product) {
    product();  // warm-up
    double best = 0;
    for (int i = 0; i < std::max(1, repeats); ++i) {
      auto t0 = BenchClock::now();
      product();
      best = std::max(best, flops / bench_seconds_since(t0) / 1e9);
    }
    return best;
  };
  GemmResult r;
  r.n = n;
  r.threads = at::get_num_threads();
  c10::InferenceMode no_autograd;
  // torch::mm goes through the dispatcher: with a DnnlGemm alive it would run oneDNN too, so
  // LibTorch's own kernel is measured through the out= variant, which DnnlGemm leaves alone.
  torch::Tensor out = torch::empty({n, n});
  r.torch_mm_gflops = best_gflops([&] { at::mm_out(out, a, b); });
  r.dnnl_gflops = best_gflops([&] { nn::dnnl_mm(a, b); });
  r.peak_gflops = std::max(r.torch_mm_gflops, r.dnnl_gflops);
  return r;
}

}  // namespace mmfuse::train
