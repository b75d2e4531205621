// A small synthetic dataset for end-to-end training tests (3 classes): tabular = a noisy one-hot
// of the class, text = the class word and a random one, image = a 28x28 PNG with a bright band
// at the class's rows; and a run config for each registered task.
#pragma once

#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "mmfuse/models/task.h"
#include "test_util.h"

namespace mmfuse::testing {

inline void write_synthetic_split(const TempDir& dir, const std::string& name, int n,
                                  uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> noise(0.0, 0.3);
  const char* words[] = {"alpha", "beta", "gamma"};
  std::ofstream out(dir.file(name + ".jsonl"));
  for (int i = 0; i < n; ++i) {
    const int c = static_cast<int>(rng() % 3);
    const std::string image = name + "_" + std::to_string(i) + ".png";
    cv::Mat img(28, 28, CV_8U, cv::Scalar(20));
    img.rowRange(c * 9, c * 9 + 9).setTo(cv::Scalar(200 + static_cast<int>(rng() % 50)));
    cv::imwrite(dir.file(image), img);
    std::vector<double> tab;
    for (int k = 0; k < 4; ++k) tab.push_back((k == c ? 1.0 : 0.0) + noise(rng));
    nlohmann::json row = {{"id", name + std::to_string(i)},
                          {"label", c},
                          {"tabular", tab},
                          {"text", std::string(words[c]) + " " + words[rng() % 3]},
                          {"image", image}};
    out << row.dump() << "\n";
  }
}

/// The `task:` and `model:` sections of a small model for each task. `batch_norm`: whether the
/// model may hold batch norm (an image encoder, a GAN) — data-parallel runs keep its statistics
/// per process, so equivalence tests leave it out.
inline std::string synthetic_task_section(models::TaskKind kind, bool batch_norm = true) {
  switch (kind) {
    case models::TaskKind::supervised:
      return std::string("model:\n  encoders:\n    tabular: {type: mlp, hidden: [16]}\n") +
             "    text: {type: embedding, dim: 8}\n" +
             (batch_norm ? "    image: {type: lenet, channels: 2}\n" : "") +
             "  fusion: {type: concat}\n  heads: {label: {type: mlp, hidden: 16" +
             (batch_norm ? ", dropout: 0.2" : "") + "}}\n";
    case models::TaskKind::retrieval:
      return "task: retrieval\nretrieval: {modalities: [text, tabular], dim: 8, "
             "positives: same_query, ks: [1, 5]}\n"
             "model:\n  encoders:\n    text: {type: embedding, dim: 8}\n"
             "    tabular: {type: mlp, hidden: [16]}\n";
    case models::TaskKind::translate:
      return std::string("task: translate\ntranslate: {source: tabular, target: image, ") +
             (batch_norm ? "objective: gan, noise: 4, disc_channels: 4, consistency_weight: 0.5, "
                           "aux_channels: 4, "
                         : "objective: ae, ") +
             "latent: 8, decoder_channels: 8, class_weight: 0.5}\n"
             "model:\n  encoders:\n    tabular: {type: mlp, hidden: [16]}\n";
  }
  return "";
}

/// The dataset (96 / 24 / 24 samples) in a temp folder, and run configs over it.
struct SyntheticRun {
  TempDir dir;
  SyntheticRun() {
    write_synthetic_split(dir, "train", 96, 1);
    write_synthetic_split(dir, "val", 24, 2);
    write_synthetic_split(dir, "test", 24, 3);
    std::ofstream(dir.file("data.yaml"))
        << "splits: {train: [train.jsonl], val: [val.jsonl], test: [test.jsonl]}\n"
           "modalities:\n  tabular: {pipeline: tabular}\n"
           "  text: {pipeline: text, output: ids, max_len: 4}\n"
           "  image: {pipeline: image, channels: 1, size: [28, 28]}\n"
           "targets: {label: {field: label, type: class}}\n"
           "cache: {enabled: false}\n";
  }
  /// A config of `kind`: 3 epochs of 8 batches of 12, Adam, checkpoints every 4 steps.
  std::string config(models::TaskKind kind, const std::string& extra = "",
                     bool batch_norm = true) const {
    const std::string path = dir.file(models::to_string(kind) + ".yaml");
    std::ofstream(path) << "data: data.yaml\n"
                        << synthetic_task_section(kind, batch_norm)
                        << "train:\n  epochs: 3\n  batch_size: 12\n  seed: 3\n  threads: 1\n"
                           "  loader_threads: 2\n  optimizer: {type: adam, lr: 0.003}\n"
                           "  checkpoint_every_steps: 4\n  log_every_steps: 3\n"
                        << extra;
    return path;
  }
};

}  // namespace mmfuse::testing
