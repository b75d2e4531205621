// `mmfuse eval --run RUN_DIR --data MANIFEST [--json] [--robustness ...]` and
// `mmfuse predict --run RUN_DIR [--image X] [--audio Y] [--text T] [--tabular 1,2,3]`.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <iostream>

#include "mmfuse/core/allocator.h"
#include "mmfuse/core/error.h"
#include "mmfuse/core/memory.h"
#include "mmfuse/eval/run_eval.h"
#include "mmfuse/runtime/predictor.h"
#include "mmfuse/tools/cli.h"

namespace mmfuse::tools {

namespace {

void add_eval_command(CLI::App& app) {
  auto req = std::make_shared<eval::RunEvalRequest>();
  auto threads = std::make_shared<int>(0);
  auto levels = std::make_shared<std::string>();
  auto json_out = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand(
      "eval",
      "Evaluate a trained run on a manifest (JSONL/CSV): every target's metrics, cost, and with "
      "--robustness modality ablation and accuracy under noise (also added to the run's report)");
  cmd->add_option("--run", req->run_dir, "Run directory written by `mmfuse train`")
      ->required()
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--data", req->manifest, "Manifest with the run's dataset fields")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--batch", req->batch_size, "Batch size")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_option("--threads", *threads, "Intra-op threads (default: torch's choice)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--top-k", req->top_k, "k of the top-k accuracy")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  cmd->add_flag("--json", *json_out, "Print JSON instead of tables");
  cmd->add_flag("--robustness", req->robustness,
                "Also measure modality ablation and accuracy vs noise level per modality");
  cmd->add_option("--noise-dir", req->noise_dir,
                  "Audio noise files (default: the dataset's noise/, else ../shared/data/noise)")
      ->check(CLI::ExistingDirectory);
  cmd->add_option("--levels", *levels,
                  "Noise levels in [0, 1], increasing (default 0,0.1,...,0.9)");
  cmd->add_option("--seed", req->seed, "Seed of the noise")->capture_default_str();
  auto no_complexity = std::make_shared<bool>(false);
  cmd->add_flag("--no-complexity", *no_complexity,
                "Skip the model's cost (parameters, FLOPs, latency: the model runs 20 times on "
                "the first batches)");
  auto no_memo = std::make_shared<bool>(false);
  cmd->add_flag("--no-frozen-memo", *no_memo,
                "Run the encoders the run kept frozen on every sample instead of reading the rows "
                "an earlier evaluation over the same pretrained weights stored");
  auto memory_budget = std::make_shared<std::string>();
  cmd->add_option("--memory-budget", *memory_budget,
                  "Memory budget in MiB (0: none): caps the RAM feature cache and the prefetch "
                  "queue; the result says whether the peak held");
  auto release_s = std::make_shared<double>(0.0);
  cmd->add_option("--release-memory-s", *release_s,
                  "Seconds between returns of the allocator's free pages to the OS (0: only "
                  "between chunks of the manifest)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->callback([=] {
    eval::RunEvalRequest r = *req;
    r.frozen_memo = !*no_memo;
    r.complexity = !*no_complexity;
    if (!memory_budget->empty()) {
      r.memory.total_mb = parse_memory_mb(*memory_budget, "--memory-budget");
    }
    if (*threads > 0) {
      at::set_num_threads(*threads);
      r.threads = std::min(*threads, 2);
    }
    if (!levels->empty()) {
      try {
        r.levels = runtime::parse_numbers(*levels);
      } catch (const UsageError& e) {
        throw UsageError(std::string("--levels: ") + e.what());
      }
      for (std::size_t i = 0; i < r.levels.size(); ++i) {
        if (r.levels[i] < 0 || r.levels[i] > 1 || (i > 0 && r.levels[i] <= r.levels[i - 1])) {
          throw UsageError("--levels: expected increasing levels in [0, 1], got " + *levels);
        }
      }
    }
    // Arenas for the main thread and the decode workers; freed blocks kept for the next batch
    // as in training, returned between chunks of the manifest and every --release-memory-s
    // (core/allocator.h).
    tune_allocator_for_inference(r.threads + 1, kTrainingTrimThresholdBytes);
    const MemoryReleaser releaser(
        std::chrono::milliseconds(static_cast<int64_t>(*release_s * 1000)));
    auto result = eval::evaluate_run(r);
    std::cout << (*json_out ? result.dump(2) + "\n" : eval::format_run_eval(result));
  });
}

void add_predict_command(CLI::App& app) {
  struct Args {
    std::string run_dir, image, audio, text, tabular;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand(
      "predict",
      "Predict one sample with a trained run; prints JSON (class, probabilities, values). "
      "Modalities left out are absent for the model");
  cmd->add_option("--run", args->run_dir, "Run directory written by `mmfuse train`")
      ->required()
      ->check(CLI::ExistingDirectory);
  auto* image = cmd->add_option("--image", args->image, "Image file");
  auto* audio = cmd->add_option("--audio", args->audio, "Audio file (WAV/FLAC/OGG)");
  auto* text = cmd->add_option("--text", args->text, "Text (UTF-8)");
  auto* tabular = cmd->add_option("--tabular", args->tabular, "Comma-separated numbers");
  cmd->callback([=] {
    runtime::Request in;
    if (image->count()) in.image = runtime::EncodedFile::read(args->image);
    if (audio->count()) in.audio = runtime::EncodedFile::read(args->audio);
    if (text->count()) in.text = args->text;
    if (tabular->count()) {
      try {
        auto v = runtime::parse_numbers(args->tabular);
        in.tabular = std::vector<float>(v.begin(), v.end());
      } catch (const UsageError& e) {
        throw UsageError(std::string("--tabular: ") + e.what());
      }
    }
    in.id = "1";
    const runtime::Predictor predictor(runtime::load_run(args->run_dir));
    const auto& ds = *predictor.run().dataset;
    for (Modality m : in.modalities()) {
      if (!ds.uses(m)) {
        std::string used;
        for (Modality u : ds.modalities())
          used += (used.empty() ? "" : ", ") + std::string(to_string(u));
        throw UsageError("--" + std::string(to_string(m)) + ": the run does not use " +
                         std::string(to_string(m)) + "; it uses " + used);
      }
    }
    std::cout << predictor.predict(std::vector<runtime::Request>{in}).front().to_json().dump(2)
              << "\n";
  });
}

}  // namespace

void add_eval_commands(CLI::App& app) {
  add_eval_command(app);
  add_predict_command(app);
}

}  // namespace mmfuse::tools
