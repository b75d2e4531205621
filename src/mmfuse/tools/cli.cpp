#include "mmfuse/tools/cli.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <iostream>
#include <optional>

#include "mmfuse/core/allocator.h"
#include "mmfuse/core/error.h"
#include "mmfuse/nn/dnnl_gemm.h"
#include "mmfuse/nn/encoders/bn_relu_pool.h"
#include "mmfuse/nn/encoders/conv_block.h"
#include "mmfuse/nn/encoders/single_channel_conv.h"

namespace mmfuse::tools {

namespace {

std::vector<std::string>& global_flag_list() {
  static std::vector<std::string> flags;
  return flags;
}

void setup_logging(bool verbose, bool quiet) {
  auto logger = spdlog::stderr_color_mt("mmfuse");
  logger->set_pattern("[%H:%M:%S] %^%l%$ %v");
  logger->set_level(quiet ? spdlog::level::warn
                          : (verbose ? spdlog::level::debug : spdlog::level::info));
  spdlog::set_default_logger(logger);
}

}  // namespace

const std::vector<std::string>& global_flags() {
  return global_flag_list();
}

train::DistributedOptions distributed_from_environment() {
  return train::DistributedOptions::from_environment();
}

int run_cli(int argc, char** argv) {
  tune_allocator_for_training();  // before any tensor: see core/allocator.h
  CLI::App app{"mmfuse: multimodal deep learning engine (images, audio, text, tabular)", "mmfuse"};
  app.set_version_flag("--version", std::string("mmfuse ") + MMFUSE_VERSION);
  app.require_subcommand(1);
  bool verbose = false, quiet = false, torch_gemm = false, unfused_blocks = false;
  bool no_conv_blocks = false;
  bool no_single_channel = false;
  app.add_flag("-v,--verbose", verbose, "Log debug messages");
  app.add_flag("-q,--quiet", quiet, "Log warnings and errors only");
  app.add_flag("--torch-gemm", torch_gemm,
               "Keep LibTorch's own matrix products (Debian: reference BLAS) instead of oneDNN");
  app.add_flag("--unfused-blocks", unfused_blocks,
               "Train LeNet blocks with LibTorch's separate BatchNorm, ReLU and MaxPool kernels "
               "instead of the fused op (for A/B measurements)");
  app.add_flag("--no-conv-blocks", no_conv_blocks,
               "Train LeNet blocks with LibTorch's convolution before the fused BatchNorm-ReLU-"
               "MaxPool op, instead of one oneDNN op with the layout kept (for A/B measurements)");
  app.add_flag("--no-single-channel-kernels", no_single_channel,
               "Compute the weight gradient of a first layer with one input channel on oneDNN "
               "instead of mmfuse's own kernel (for A/B measurements)");
  std::shared_ptr<const nn::DnnlGemm> dnnl_gemm;  // oneDNN behind Linear/mm while the command runs
  app.parse_complete_callback([&] {
    auto& flags = global_flag_list();
    flags.clear();
    const std::pair<bool, const char*> given[] = {
        {verbose, "--verbose"},
        {quiet, "--quiet"},
        {torch_gemm, "--torch-gemm"},
        {unfused_blocks, "--unfused-blocks"},
        {no_conv_blocks, "--no-conv-blocks"},
        {no_single_channel, "--no-single-channel-kernels"}};
    for (const auto& [on, flag] : given) {
      if (on) flags.emplace_back(flag);
    }
    setup_logging(verbose, quiet);
    if (!torch_gemm) dnnl_gemm = nn::acquire_dnnl_gemm();
    encoders::set_fused_blocks(!unfused_blocks);
    encoders::set_conv_blocks(!no_conv_blocks);
    encoders::set_single_channel_kernels(!no_single_channel);
  });

  add_models_commands(app);
  add_data_commands(app);
  add_summary_commands(app);
  add_parity_commands(app);
  add_make_default_command(app);
  add_make_video_command(app);
  add_train_commands(app);
  add_compare_commands(app);
  add_cv_commands(app);
  add_eval_commands(app);
  add_ensemble_commands(app);
  add_bench_commands(app);
  add_translate_commands(app);
  add_index_commands(app);
  add_serve_commands(app);
  add_prune_commands(app);
  add_optimize_commands(app);
  add_export_commands(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  } catch (const UsageError& e) {
    std::cerr << "mmfuse: usage error: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "mmfuse: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace mmfuse::tools
