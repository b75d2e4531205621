// The `mmfuse` command line: subcommands registered by one function per command group.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "mmfuse/train/distributed_options.h"

namespace mmfuse::tools {

/// Parses argv, runs the chosen subcommand, and maps failures to exit codes:
/// 0 success, 2 bad usage (with CLI11's message), 1 failure (one line `mmfuse: error: ...`).
int run_cli(int argc, char** argv);

// One per command group (each in its own cmd_*.cpp). Adding a group: a file and one line in
// cli.cpp's list.
void add_models_commands(CLI::App& app);
void add_data_commands(CLI::App& app);
void add_summary_commands(CLI::App& app);
void add_parity_commands(CLI::App& app);
void add_make_default_command(CLI::App& app);
void add_make_video_command(CLI::App& app);  ///< data make-video (cmd_make_video.cpp)
void add_train_commands(CLI::App& app);
void add_compare_commands(CLI::App& app);
void add_cv_commands(CLI::App& app);                    ///< cv (cmd_compare.cpp)
void add_ensemble_commands(CLI::App& app);              ///< ensemble
void add_eval_commands(CLI::App& app);                  ///< eval, predict
void add_translate_commands(CLI::App& app);             ///< translate, translate train|eval
void add_translate_train_command(CLI::App& translate);  ///< translate train (cmd_train.cpp)
void add_bench_commands(CLI::App& app);
void add_index_commands(CLI::App& app);     ///< index build, search
void add_serve_commands(CLI::App& app);     ///< serve (cmd_serve.cpp)
void add_optimize_commands(CLI::App& app);  ///< optimize (cmd_optimize.cpp)
void add_prune_commands(CLI::App& app);     ///< prune (cmd_prune.cpp)
void add_export_commands(CLI::App& app);    ///< export --onnx (cmd_export.cpp)

/// The global flags this process was given (-q, --torch-gemm, ...), as written before the
/// subcommand: child processes of a command (`cv --jobs`) are started with them, so they log and
/// compute as this process does.
const std::vector<std::string>& global_flags();

/// torchrun's launch contract (RANK, WORLD_SIZE, MASTER_ADDR, ...) read from the environment:
/// the one place the program reads it. One process when WORLD_SIZE is unset.
train::DistributedOptions distributed_from_environment();

}  // namespace mmfuse::tools
