// `mmfuse bench --config C [--batch 40] [--steps 50] [--threads T] [--json]`: training throughput
// and inference latency of a config's model on synthetic inputs, measured as the Python peer's
// `bench` does (see src/mmfuse/train/bench.h).
// `--inference-only` skips the training steps; `--no-plan` times inference on the module path
// instead of the compiled plan (runtime/plan.h). The output names oneDNN's CPU dispatch.
// `mmfuse bench --gemm [--size 1024]`: the machine's float matrix-product peak, LibTorch's
// torch::mm beside the oneDNN path mmfuse uses.
#include <cstdio>
#include <iostream>

#include "mmfuse/core/config.h"
#include "mmfuse/core/error.h"
#include "mmfuse/tools/cli.h"
#include "mmfuse/train/bench.h"

namespace mmfuse::tools {

void add_bench_commands(CLI::App& app) {
  struct Args {
    std::string config;
    std::vector<std::string> overrides;
    train::BenchOptions options;
    bool gemm = false, json = false, no_plan = false, inference_only = false;
    int64_t size = 1024;
    int repeats = 5;
    std::string memory_budget;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "bench", "Measure a model's training and inference speed, or the machine's GEMM peak");
  cmd->add_option("-c,--config", args->config, "Config with inputs, targets, model and train")
      ->check(CLI::ExistingFile);
  cmd->add_option("--set", args->overrides, "Override a config value: key.path=value");
  cmd->add_option("--batch", args->options.batch, "Samples per step and per batched forward")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--steps", args->options.steps, "Timed steps (and timed forwards)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--threads", args->options.threads, "Intra-op threads (0: torch's default)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--memory-budget", args->memory_budget,
                  "Memory budget in MiB (0: none): the result says whether the peak held");
  cmd->add_flag("--no-plan", args->no_plan,
                "Time inference on the module path instead of the compiled plan (A/B)");
  cmd->add_flag("--inference-only", args->inference_only,
                "Measure inference latency only (no training steps)");
  cmd->add_flag("--gemm", args->gemm, "Measure the GEMM peak instead of a model");
  cmd->add_option("--size", args->size, "--gemm: square matrix size")->check(CLI::PositiveNumber);
  cmd->add_option("--repeats", args->repeats, "--gemm: timed products per path (best is kept)")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--json", args->json, "Print one JSON line");
  cmd->callback([args] {
    if (args->gemm) {
      auto r = train::bench_gemm(args->size, args->repeats, args->options.threads);
      if (args->json) {
        std::cout << r.to_json().dump() << "\n";
      } else {
        std::printf("GEMM %lldx%lld, %d threads: torch::mm %.2f GFLOP/s, oneDNN %.2f GFLOP/s\n",
                    static_cast<long long>(r.n), static_cast<long long>(r.n), r.threads,
                    r.torch_mm_gflops, r.dnnl_gflops);
      }
      return;
    }
    if (args->config.empty()) throw UsageError("bench needs --config C (or --gemm)");
    ConfigNode root = ConfigNode::load_file(args->config);
    for (const auto& o : args->overrides) root.set_override(o);
    train::BenchOptions options = args->options;
    if (!args->memory_budget.empty()) {
      options.memory.total_mb = parse_memory_mb(args->memory_budget, "--memory-budget");
    }
    options.inference_plan = !args->no_plan;
    options.train = !args->inference_only;
    options.distributed = distributed_from_environment();
    auto r = train::bench_model(root, options);
    if (options.distributed.rank != 0) return;
    if (args->json) {
      std::cout << r.to_json().dump() << "\n";
      return;
    }
    std::printf(
        "%s: %d process(es) x %d threads, batch %lld\n  training  %.1f samples/s (%.2f GFLOP/s)\n"
        "  inference batch 1 p50 %.3f ms, batch %lld p50 %.3f ms\n  params %lld, "
        "forward %.3g FLOPs per sample\n  memory %s\n",
        args->config.c_str(), r.processes, r.threads, static_cast<long long>(r.batch),
        r.train_samples_per_s, r.gflops_achieved, r.batch1_p50_ms, static_cast<long long>(r.batch),
        r.batch_p50_ms, static_cast<long long>(r.params), r.forward_flops_per_sample,
        r.memory.summary().c_str());
    std::string impls;
    for (const auto& i : r.implementations) impls += (impls.empty() ? "" : ", ") + i;
    std::string loops;
    for (const auto& [kernel, loop] : r.kernel_loops) {
      loops += (loops.empty() ? "" : ", ") + kernel + " " + loop;
    }
    std::printf(
        "  dispatch oneDNN %s, %s, cpu isa %s, training blocks %s (%lld a step on oneDNN), "
        "inference %s%s%s; mmfuse loops: %s\n",
        r.onednn_version.c_str(), r.onednn_runtime.c_str(), r.cpu_isa.c_str(),
        r.fused_training_blocks ? "fused" : "unfused",
        static_cast<long long>(r.conv_blocks_per_step), r.inference_plan ? "plan" : "module path",
        impls.empty() ? "" : ": ", impls.c_str(), loops.c_str());
  });
}

}  // namespace mmfuse::tools
