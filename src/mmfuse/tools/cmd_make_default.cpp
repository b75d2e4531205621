// `mmfuse data make-default`: writes the built-in spoken-and-written digits dataset.
#include <spdlog/spdlog.h>

#include <chrono>
#include <iostream>
#include <memory>

#include "mmfuse/core/error.h"
#include "mmfuse/data/default_dataset/make_default_dataset.h"
#include "mmfuse/tools/cli.h"

namespace mmfuse::tools {

namespace {

// The "data" group, created here unless another command file already did.
CLI::App* data_group(CLI::App& app) {
  auto found = app.get_subcommands([](CLI::App* sub) { return sub->check_name("data"); });
  if (!found.empty()) return found.front();
  return app.add_subcommand("data", "Dataset tools");
}

}  // namespace

void add_make_default_command(CLI::App& app) {
  using data::default_dataset::DefaultDatasetOptions;
  auto options = std::make_shared<DefaultDatasetOptions>();
  auto out = std::make_shared<std::string>();
  CLI::App* cmd = data_group(app)->add_subcommand(
      "make-default",
      "Write the built-in tri-modal dataset: digits 0-9 as distorted handwritten images, "
      "espeak-ng speech under noise and words in 8 languages (train/val/test JSONL, "
      "dataset.yaml, README.md). Needs espeak-ng and python3-sklearn's digits file.");
  cmd->add_option("--out", *out, "Output folder (created if missing)")->required();
  cmd->add_option("--seed", options->seed, "Seed of every random choice; same seed, same bytes")
      ->capture_default_str();
  cmd->add_option("--samples", options->samples,
                  "Samples over all splits, split 4:1:1 into train/val/test")
      ->check(CLI::Range(int64_t{10}, int64_t{10000000}))
      ->capture_default_str();
  cmd->add_option("--threads", options->threads,
                  "espeak-ng calls run at a time (images use at least 4 writers)")
      ->check(CLI::Range(1, 64))
      ->capture_default_str();
  cmd->add_option("--min-snr-db", options->min_snr_db, "Lowest speech-to-noise ratio (dB)")
      ->capture_default_str();
  cmd->add_option("--max-snr-db", options->max_snr_db, "Highest speech-to-noise ratio (dB)")
      ->capture_default_str();
  cmd->add_option("--text-absent", options->text.absent_prob,
                  "Probability that a sample has no text")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--typo-prob", options->text.typo_prob,
                  "Probability that a text has a character-level typo")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  cmd->add_option("--image-noise", options->image.max_noise_std,
                  "Largest standard deviation of the images' Gaussian noise (intensities 0..1)")
      ->check(CLI::Range(0.0, 2.0))
      ->capture_default_str();
  cmd->add_option("--train-voices", options->speech.voices_per_split[0],
                  "espeak-ng voice configurations for train (val and test get theirs too)")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  cmd->add_option("--espeak", options->speech.espeak, "The espeak-ng program")
      ->capture_default_str();
  cmd->add_option("--digits-csv", options->digits_csv, "python3-sklearn's digits.csv.gz")
      ->capture_default_str();
  cmd->callback([options, out] {
    options->image.min_noise_std =
        std::min(options->image.min_noise_std, options->image.max_noise_std);
    try {
      options->validate();
    } catch (const ConfigError& e) {
      throw UsageError(e.what());
    }
    const auto start = std::chrono::steady_clock::now();
    auto summary = data::default_dataset::make_default_dataset(*out, *options);
    const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    std::cout << summary.format();
    spdlog::info("wrote the default dataset to {} in {:.1f} s", *out, took.count());
  });
}

}  // namespace mmfuse::tools
