// The bench reports the peer's keys with consistent values (no timing thresholds: nothing timed
// is asserted, see CONTRIBUTING.md).
#include "mmfuse/train/bench.h"

#include <gtest/gtest.h>

#include "mmfuse/models/build.h"
#include "mmfuse/models/summary.h"
#include "mmfuse/nn/encoders/bn_relu_pool.h"
#include "mmfuse/nn/encoders/single_channel_conv.h"

namespace mmfuse::train {
namespace {

const char* kTinyConfig = R"(
inputs: {image: [1, 28, 28], audio: [1, 112, 112]}
targets: {digit: {type: class, classes: 10}}
model:
  encoders:
    image: {type: lenet, channels: 2, extra_blocks: 1}
    audio: {type: lenet, channels: 2, extra_blocks: 3}
  fusion: {type: concat}
  heads:
    digit: {type: mlp, hidden: 16}
train:
  optimizer: {type: sgd, lr: 0.01, momentum: 0.9, weight_decay: 1.0e-4}
)";

TEST(Bench, ReportsThePeersKeysAndConsistentFlops) {
  auto root = ConfigNode::parse(kTinyConfig);
  BenchOptions o;
  o.batch = 4;
  o.steps = 2;
  o.warmup_train = 1;
  o.warmup_infer = 1;
  o.threads = 1;
  auto r = bench_model(root, o);
  auto j = r.to_json();
  for (const char* key : {"train_samples_per_s", "batch1_p50_ms", "batch4_p50_ms", "params",
                          "threads", "flops_per_sample", "gflops_achieved"}) {
    EXPECT_TRUE(j.contains(key)) << key << " missing from " << j.dump();
  }
  models::ModelInputs inputs;
  auto model = models::build_model_from_config(root, {}, &inputs);
  int64_t params = 0;
  for (const auto& p : model->parameters()) params += p.numel();
  EXPECT_EQ(j["params"].get<int64_t>(), params);
  EXPECT_EQ(j["threads"].get<int>(), 1);
  const double forward = models::summarize_model(model, inputs).flops.total;
  EXPECT_GT(forward, 0);
  EXPECT_DOUBLE_EQ(j["flops_per_sample"].get<double>(), 3 * forward);
  EXPECT_NEAR(j["gflops_achieved"].get<double>(),
              j["train_samples_per_s"].get<double>() * 3 * forward / 1e9, 1e-9);
  EXPECT_GT(j["train_samples_per_s"].get<double>(), 0);
  EXPECT_GT(j["batch1_p50_ms"].get<double>(), 0);
  // The audio LeNet's 4 -> 8 and 8 -> 16 channel blocks run as oneDNN ops (NHWC) on every CPU;
  // the 2 -> 4 channel blocks of both LeNets too where oneDNN's blocks are 8 lanes (4 of 8 used),
  // not where they are 16 (AVX-512: mostly padding); 2 channels are too few for either.
  // (Below AVX2, oneDNN's layouts differ and the count is not fixed.)
  const auto isa = j["dispatch"]["cpu_isa"].get<std::string>();
  const auto blocks = j["dispatch"]["onednn_training_blocks_per_step"].get<int64_t>();
  if (isa.find("avx512") != std::string::npos) EXPECT_EQ(blocks, 2) << j.dump();
  if (isa.find("avx512") == std::string::npos && isa.find("avx2") != std::string::npos) {
    EXPECT_EQ(blocks, 4) << j.dump();
  }
}

TEST(Bench, NamesOneDnnsDispatchAndThePlanItTimed) {
  auto root = ConfigNode::parse(kTinyConfig);
  BenchOptions o;
  o.batch = 3;
  o.steps = 1;
  o.warmup_infer = 1;
  o.threads = 1;
  o.train = false;
  const auto planned = bench_model(root, o).to_json()["dispatch"];
  EXPECT_FALSE(planned["cpu_isa"].get<std::string>().empty());
  EXPECT_EQ(planned["onednn_runtime"], "OpenMP");  // Debian's build, LibTorch's runtime
  EXPECT_TRUE(planned["inference_plan"].get<bool>());
  EXPECT_TRUE(planned["fused_training_blocks"].get<bool>());  // the default
  EXPECT_EQ(planned["plan_blocks"],
            nlohmann::json({"encoders.image: lenet", "encoders.audio: lenet", "fusion: module",
                            "heads.digit: mlp"}));
  bool convolution_kernel = false;  // jit:avx2, brg:avx512_core, ...: an ISA-specific kernel
  for (const auto& impl : planned["implementations"]) {
    const std::string name = impl.get<std::string>();
    convolution_kernel |= name.rfind("jit:", 0) == 0 || name.rfind("brg", 0) == 0;
  }
  EXPECT_TRUE(convolution_kernel) << planned.dump();
  // mmfuse's own loops, as chosen for this CPU (plain everywhere; AVX2 where it has AVX2 + FMA).
  const bool fma = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  EXPECT_EQ(planned["kernel_loops"]["single_channel_conv"], fma ? "avx2" : "plain");
  const std::string sgd = planned["kernel_loops"]["fused_sgd"].get<std::string>();
  const bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl");
  EXPECT_EQ(sgd, !__builtin_cpu_supports("fma")   ? "plain"
                 : avx512                         ? "avx512"
                 : __builtin_cpu_supports("avx2") ? "avx2"
                                                  : "plain")
      << planned.dump();
  encoders::set_single_channel_kernels(false);  // --no-single-channel-kernels
  EXPECT_EQ(bench_model(root, o).to_json()["dispatch"]["kernel_loops"]["single_channel_conv"],
            "off");
  encoders::set_single_channel_kernels(true);

  o.inference_plan = false;
  const auto r = bench_model(root, o);
  EXPECT_EQ(r.train_samples_per_s, 0.0);  // train = false
  EXPECT_GT(r.batch_p50_ms, 0.0);
  const auto plain = r.to_json()["dispatch"];
  EXPECT_FALSE(plain["inference_plan"].get<bool>());
  EXPECT_TRUE(plain["implementations"].empty());

  encoders::set_fused_blocks(false);  // --unfused-blocks
  const auto unfused = bench_model(root, o).to_json()["dispatch"];
  encoders::set_fused_blocks(true);
  EXPECT_FALSE(unfused["fused_training_blocks"].get<bool>());
}

TEST(Bench, GemmReportsBothPathsAndTheBetterAsPeak) {
  auto r = bench_gemm(64, 1, 1);
  EXPECT_EQ(r.n, 64);
  EXPECT_GT(r.torch_mm_gflops, 0);
  EXPECT_GT(r.dnnl_gflops, 0);
  EXPECT_DOUBLE_EQ(r.peak_gflops, std::max(r.torch_mm_gflops, r.dnnl_gflops));
}

}  // namespace
}  // namespace mmfuse::train
