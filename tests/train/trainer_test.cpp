// The trainer end to end on a small synthetic tabular + text dataset: it learns, writes its run
// directory, and a run killed with SIGKILL and resumed ends with the same weights as an
// uninterrupted one.
#include "mmfuse/train/trainer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "mmfuse/core/fs.h"
#include "mmfuse/core/safetensors.h"
#include "mmfuse/runtime/run.h"
#include "mmfuse/train/checkpoint.h"
#include "test_util.h"

namespace mmfuse::train {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

// Three classes; tabular = noisy one-hot, text = the class word (absent in 30% of samples).
void write_split(const std::string& path, int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> noise(0.0, 0.35);
  const char* words[] = {"alpha", "beta", "gamma"};
  std::ofstream out(path);
  for (int i = 0; i < n; ++i) {
    const int c = i % 3;
    nlohmann::json row = {{"id", "s" + std::to_string(i)}, {"label", c}};
    std::vector<double> tab;
    for (int k = 0; k < 3; ++k) tab.push_back((k == c ? 1.0 : 0.0) + noise(rng));
    row["tabular"] = tab;
    if (rng() % 10 >= 3) row["text"] = std::string(words[c]) + " sample";
    out << row.dump() << "\n";
  }
}

struct Fixture {
  TempDir dir;
  std::string config;
  Fixture() {
    write_split(dir.file("train.jsonl"), 240, 1);
    write_split(dir.file("val.jsonl"), 60, 2);
    write_split(dir.file("test.jsonl"), 60, 3);
    std::ofstream(dir.file("data.yaml"))
        << "splits: {train: [train.jsonl], val: [val.jsonl], test: [test.jsonl]}\n"
           "modalities:\n  tabular: {pipeline: tabular}\n"
           "  text: {pipeline: text, output: ids, max_len: 4}\n"
           "targets: {label: {field: label, type: class}}\n"
           "cache: {enabled: false}\n";
    config = dir.file("run.yaml");
    std::ofstream(config)
        << "data: data.yaml\n"
           "model:\n  encoders:\n    tabular: {type: mlp, hidden: [16]}\n"
           "    text: {type: embedding, dim: 8}\n"
           "  fusion: {type: concat}\n  heads: {label: {type: mlp, hidden: 16, dropout: 0.2}}\n"
           "train:\n  epochs: 4\n  batch_size: 16\n  seed: 3\n  threads: 1\n  loader_threads: 2\n"
           "  optimizer: {type: sgd, lr: 0.05, momentum: 0.9}\n  grad_clip_norm: 5\n"
           "  checkpoint_every_steps: 4\n  log_every_steps: 5\n  modality_dropout: 0.1\n";
  }
};

TEST(Trainer, LearnsAndWritesTheRunDirectory) {
  Fixture f;
  TrainRequest req;
  req.config = RunConfig::load(f.config);
  req.run_dir = f.dir.file("run");
  req.progress = false;
  auto result = run_training(req);
  const auto& s = result.summary;
  ASSERT_EQ(s["history"].size(), 4u);
  EXPECT_LT(s["history"][3]["train_loss"].get<double>(),
            s["history"][0]["train_loss"].get<double>());
  EXPECT_GT(s["test"]["targets"]["label"]["report"]["accuracy"].get<double>(), 0.85);
  EXPECT_EQ(s["steps"].get<int64_t>(), 4 * 15);
  for (const char* file :
       {"config.yaml", "dataset.json", "model.safetensors", "metrics.jsonl", "summary.json",
        "report.html", "checkpoints/last.safetensors", "checkpoints/best.safetensors"}) {
    EXPECT_TRUE(fs::exists(f.dir.file("run/") + file)) << file;
  }
  // metrics.jsonl: a step line every 5 steps plus one line per epoch.
  std::ifstream log(f.dir.file("run/metrics.jsonl"));
  int lines = 0;
  for (std::string l; std::getline(log, l);) ++lines;
  EXPECT_EQ(lines, 60 / 5 + 4);
  // The saved run reloads for inference with the selected weights.
  auto run = runtime::load_run(f.dir.file("run"));
  EXPECT_EQ(run->dataset->num_classes("label"), 3);
}

TEST(Trainer, KillAndResumeGivesIdenticalWeights) {
  Fixture f;
  const std::string a = f.dir.file("a"), b = f.dir.file("b");
  auto ra = testing::run_mmfuse("train --no-progress --config " + f.config + " --out " + a);
  ASSERT_EQ(ra.exit_code, 0) << ra.output;
  // Killed (SIGKILL) after step 22; the last checkpoint is from step 20.
  auto rb = testing::run_mmfuse("train --no-progress --config " + f.config +
                                " train.kill_after_steps=22 --out " + b);
  ASSERT_TRUE(rb.exit_code == -1 || rb.exit_code == 128 + 9)
      << "expected death by SIGKILL, got exit " << rb.exit_code << ": " << rb.output;
  EXPECT_FALSE(fs::exists(b + "/model.safetensors"));
  EXPECT_EQ(read_checkpoint_state(b + "/checkpoints/last.safetensors")["step"].get<int64_t>(), 20);
  auto resumed = testing::run_mmfuse("train --no-progress --resume " + b);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  auto wa = load_safetensors(a + "/model.safetensors").tensors;
  auto wb = load_safetensors(b + "/model.safetensors").tensors;
  ASSERT_EQ(wa.size(), wb.size());
  for (const auto& [name, t] : wa) {
    ASSERT_TRUE(wb.count(name)) << name;
    EXPECT_TRUE(torch::equal(t, wb.at(name))) << name << " differs after kill and resume";
  }
  // Same log too: lines past the checkpoint were dropped and written again once.
  auto lines = [](const std::string& path) {
    std::string text = read_file(path);
    return std::count(text.begin(), text.end(), '\n');
  };
  EXPECT_EQ(lines(a + "/metrics.jsonl"), lines(b + "/metrics.jsonl"));
}

TEST(Trainer, ConfigErrorsNameThePath) {
  Fixture f;
  try {
    RunConfig::load(f.config, {"train.optimizer.type=adagrad"});
    FAIL() << "expected a ConfigError";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("train.optimizer.type"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mmfuse::train
