// A tiny retrieval run with its index and a tiny translation run, trained once per build of
// mmfuse on the tiny dataset (serve_fixture.h) for the :search and :translate tests: text <->
// image retrieval (1 epoch, 8-dimensional), image -> spectrogram translation (1 epoch).
#pragma once

#include <fstream>
#include <string>

#include "serve/serve_fixture.h"

namespace mmfuse::testing {

struct TaskRuns {
  std::string retrieval_run;  ///< task: retrieval, towers text and image
  std::string index_dir;      ///< `mmfuse index build` of the test split's images
  std::string test_manifest;  ///< the test split (absolute paths)
  std::string translate_run;  ///< task: translate, image -> audio (AV-MNIST spectrograms)
  std::string error;          ///< non-empty when making them failed
};

inline std::string task_runs_retrieval_config(const std::string& data_yaml) {
  return "data: " + data_yaml +
         "\ntask: retrieval\nretrieval: {modalities: [text, image], dim: 8}\n"
         "model:\n  encoders:\n"
         "    text: {type: embedding, dim: 8}\n"
         "    image: {type: lenet, channels: 4, extra_blocks: 1}\n"
         "train: {epochs: 1, batch_size: 16, threads: 1, loader_threads: 1, seed: 1, "
         "optimizer: {type: adam, lr: 0.01}}\n";
}

inline std::string task_runs_translate_config(const std::string& spec) {
  return "data: " + spec +
         "\ntask: translate\ntranslate: {source: image, target: audio, objective: ae, latent: 16,"
         " decoder_channels: 16}\n"
         "model:\n  encoders:\n    image: {type: lenet, channels: 4, extra_blocks: 1}\n"
         "train: {epochs: 1, batch_size: 16, threads: 1, loader_threads: 1, seed: 1, "
         "optimizer: {type: adam, lr: 0.003}}\n";
}

/// Trains both runs and builds the index under `dir` ("" or what failed).
inline std::string make_task_runs_in(const std::string& dir, const std::string& data) {
  std::ofstream(dir + "/retrieval.yaml") << task_runs_retrieval_config(data + "/dataset.yaml");
  auto r = run_mmfuse("-q train --no-progress --config " + dir + "/retrieval.yaml --out " + dir +
                      "/retrieval > /dev/null");
  if (r.exit_code != 0) return "retrieval train failed: " + r.output;
  r = run_mmfuse("-q index build --run " + dir + "/retrieval --data " + data +
                 "/test.jsonl --modality image --out " + dir + "/index > /dev/null");
  if (r.exit_code != 0) return "index build failed: " + r.output;
  std::ofstream(dir + "/av.yaml") << "splits: {train: [" << data << "/train.jsonl], val: [" << data
                                  << "/val.jsonl], test: [" << data << "/test.jsonl]}\n"
                                  << "modalities:\n"
                                     "  image: {pipeline: image, channels: 1, size: [28, 28]}\n"
                                     "  audio: {pipeline: audio, features: avmnist_spectrogram}\n"
                                     "targets:\n  digit: {field: label, type: class}\n";
  std::ofstream(dir + "/translate.yaml") << task_runs_translate_config(dir + "/av.yaml");
  r = run_mmfuse("-q translate train --no-progress --config " + dir + "/translate.yaml --out " +
                 dir + "/translate > /dev/null");
  if (r.exit_code != 0) return "translate train failed: " + r.output;
  return "";
}

inline const TaskRuns& shared_task_runs() {
  static TaskRuns runs;
  static bool made = false;
  if (made) return runs;
  made = true;
  const TinyRun& tiny = tiny_run();
  if (!tiny.error.empty()) {
    runs.error = tiny.error;
    return runs;
  }
  const std::string dir = fixture_dir().string();
  runs = {dir + "/retrieval", dir + "/index", tiny.data_dir + "/test.jsonl", dir + "/translate",
          ""};
  runs.error = make_fixture_once(
      "tasks", [&](const std::string& d) { return make_task_runs_in(d, tiny.data_dir); });
  return runs;
}

#define MMFUSE_REQUIRE_SHARED_TASK_RUNS()                               \
  do {                                                                  \
    MMFUSE_REQUIRE(::mmfuse::testing::missing_default_dataset_tools()); \
    ASSERT_EQ(::mmfuse::testing::shared_task_runs().error, "");         \
  } while (0)

}  // namespace mmfuse::testing
