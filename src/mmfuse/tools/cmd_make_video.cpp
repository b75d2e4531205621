// `mmfuse data make-video`: writes the AV-MNIST video clips (data/video/make_video_dataset.h).
#include <spdlog/spdlog.h>

#include <chrono>
#include <iostream>
#include <memory>

#include "mmfuse/data/video/make_video_dataset.h"
#include "mmfuse/tools/cli.h"

namespace mmfuse::tools {

namespace {

// The "data" group, created here unless another command file already did.
CLI::App* video_data_group(CLI::App& app) {
  auto found = app.get_subcommands([](CLI::App* sub) { return sub->check_name("data"); });
  if (!found.empty()) return found.front();
  return app.add_subcommand("data", "Dataset tools");
}

}  // namespace

void add_make_video_command(CLI::App& app) {
  auto options = std::make_shared<data::video::VideoDatasetOptions>();
  options->avmnist_dir = "../shared/data/avmnist";
  auto out = std::make_shared<std::string>();
  CLI::App* cmd = video_data_group(app)->add_subcommand(
      "make-video",
      "Write labelled video clips from AV-MNIST: the digit image moving and scaling over 1 s "
      "(H.264 MP4) with the noisy spoken digit as AAC sound, subtitles for some clips, and "
      "train/val/test JSONL manifests (test from AV-MNIST's test samples)");
  cmd->add_option("--out", *out, "Output folder (created if missing)")->required();
  cmd->add_option("--seed", options->seed, "Seed of every random choice; same seed, same clips")
      ->capture_default_str();
  cmd->add_option("--limit", options->limit, "Training clips; val and test get a fifth each")
      ->check(CLI::Range(int64_t{1}, int64_t{55000}))
      ->capture_default_str();
  cmd->add_option("--avmnist", options->avmnist_dir, "AV-MNIST folder (train/val/test.jsonl)")
      ->capture_default_str();
  cmd->add_option("--fps", options->fps, "Frames per second of the 1 s clips")
      ->check(CLI::Range(1, 60))
      ->capture_default_str();
  cmd->add_option("--size", options->size, "Frame side in pixels (even)")
      ->check(CLI::Range(32, 512))
      ->capture_default_str();
  cmd->add_option("--subtitles", options->subtitle_fraction, "Share of clips with a .srt file")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--threads", options->threads, "Clips encoded at a time")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd->callback([options, out] {
    const auto start = std::chrono::steady_clock::now();
    const auto summary = data::video::make_video_dataset(*out, *options);
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    std::cout << summary.format();
    spdlog::info("wrote the video clips to {} in {:.1f} s", *out, took.count());
  });
}

}  // namespace mmfuse::tools
