// The trainer end to end on a small synthetic tabular + text dataset: it learns, writes its run
// directory, and a run killed with SIGKILL and resumed ends with the same weights as an
// uninterrupted one.
#include "mmfuse/train/trainer.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <sstream>

#include "mmfuse/core/fs.h"
#include "mmfuse/core/safetensors.h"
#include "mmfuse/data/loader.h"
#include "mmfuse/eval/evaluator.h"
#include "mmfuse/runtime/run.h"
#include "mmfuse/train/checkpoint.h"
#include "mmfuse/train/train_config.h"
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

// A request for the fixture's config with `overrides`, into its run/, without a progress line.
TrainRequest quiet_request(const Fixture& f, const std::vector<std::string>& overrides) {
  TrainRequest req;
  req.config = RunConfig::load(f.config, overrides);
  req.run_dir = f.dir.file("run");
  req.progress = false;
  return req;
}

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

  // Memory: the reported peak is the process's (VmHWM, getrusage within 10%: the peak only grows
  // after the report), with the known parts (sizes: memory_report_test).
  rusage usage{};
  ASSERT_EQ(getrusage(RUSAGE_SELF, &usage), 0);
  const double kernel_peak_mb = static_cast<double>(usage.ru_maxrss) / 1024.0;
  const auto& mem = s["memory"];
  EXPECT_NEAR(mem["peak_rss_mb"].get<double>(), kernel_peak_mb, 0.1 * kernel_peak_mb);
  const auto& parts = mem["components_mb"];
  for (const char* part :
       {"parameters", "gradients", "optimizer_state", "feature_cache", "loader_queue_peak"}) {
    EXPECT_TRUE(parts.contains(part)) << part;
  }
  EXPECT_GT(s["history"][0]["peak_rss_mb"].get<int64_t>(), 0);
}

// The trainer evaluates through the inference plan (compiled heads, as a loaded run): its test
// metrics equal the module path's on the saved weights.
TEST(Trainer, EvaluationThroughThePlanEqualsTheModulePath) {
  Fixture f;
  const auto s = run_training(quiet_request(f, {"train.epochs=2"})).summary;
  runtime::RunLoadOptions lo;
  lo.inference_plan = false;
  auto run = runtime::load_run(f.dir.file("run"), lo);
  ASSERT_EQ(run->plan, nullptr);
  data::LoaderOptions o;
  o.batch_size = 16;
  o.shuffle = false;
  data::Loader loader(run->dataset, run->dataset->read_split(data::Split::test), o);
  models::MultimodalModel model = run->heads();
  const auto modules = eval::evaluate(model, loader);
  EXPECT_NEAR(s["test"]["loss"].get<double>(), modules.loss, 1e-5);
  EXPECT_DOUBLE_EQ(s["test"]["primary"].get<double>(), modules.primary);
}

// Evaluation streams: while the pass runs, no earlier batch's features are still alive (only
// outputs and targets are kept for the metrics), so its memory does not grow with the split.
TEST(Trainer, EvaluationHoldsOneBatchOfFeaturesAtATime) {
  Fixture f;
  TrainRequest req = quiet_request(f, {"train.epochs=0"});
  req.evaluate_test = false;
  (void)run_training(req);
  auto run = runtime::load_run(f.dir.file("run"));
  const auto test = run->dataset->read_split(data::Split::test);
  for (std::size_t n : {std::size_t{12}, test->samples.size()}) {
    auto part = std::make_shared<data::SampleSet>(*test);
    part->samples.resize(n);
    data::LoaderOptions lo;
    lo.batch_size = 4;
    lo.shuffle = false;
    lo.threads = 2;
    data::Loader loader(run->dataset, part, lo);
    std::vector<c10::weak_intrusive_ptr<c10::StorageImpl>> seen;
    int64_t most_alive_before = -1;
    eval::EvalOptions eo;
    eo.transform = [&](data::Batch& b) {
      int64_t alive = 0;
      for (const auto& w : seen) alive += w.expired() ? 0 : 1;
      most_alive_before = std::max(most_alive_before, alive);
      seen.emplace_back(b.at(Modality::tabular).data.storage().getWeakStorageImpl());
    };
    models::MultimodalModel model = run->heads();
    const auto result = eval::evaluate(model, loader, eo);
    EXPECT_EQ(result.samples, static_cast<int64_t>(n));
    EXPECT_EQ(seen.size(), (n + 3) / 4);
    EXPECT_EQ(most_alive_before, 0) << n << " samples";
  }
}

// Evaluation passes run at the training batch size (at 256 the audio LeNet's maps exceeded the
// allocator's mmap threshold: docs/BENCHMARKS.md), in order and without augmentation.
TEST(Trainer, EvaluationLoaderUsesTheTrainingBatch) {
  for (int64_t batch : {8, 40, 300}) {
    const auto tc = TrainConfig::from_config(ConfigNode::parse(
        "batch_size: " + std::to_string(batch) + "\nmodality_dropout: 0.1\nloader_threads: 2\n"));
    const auto eval = loader_options(tc, false), train = loader_options(tc, true);
    EXPECT_EQ(eval.batch_size, batch);
    EXPECT_EQ(train.batch_size, batch);
    EXPECT_FALSE(eval.shuffle);
    EXPECT_TRUE(train.shuffle);
    EXPECT_EQ(eval.modality_dropout, 0.0);
    EXPECT_EQ(train.modality_dropout, 0.1);
    EXPECT_EQ(eval.threads, 2);
  }
}

// ------------------------------------------------------------------- kill and resume

// A run's final training state as checkpoints/last.safetensors holds it: model tensors, the
// optimizer's state (its torch archive, decoded), the CPU RNG state and the trainer state.
struct FinalState {
  std::map<std::string, torch::Tensor> model;
  std::map<std::string, torch::Tensor> optimizer;       ///< "state/0/momentum_buffer", ...
  std::map<std::string, std::string> optimizer_values;  ///< non-tensor entries, printed
  torch::Tensor rng;
  nlohmann::json trainer;
};

// Flattens a torch archive: nested archives become "a/b" prefixes.
void flatten_archive(torch::serialize::InputArchive& archive, const std::string& prefix,
                     FinalState& out) {
  for (const auto& key : archive.keys()) {
    torch::serialize::InputArchive nested;
    torch::Tensor t;
    c10::IValue v;
    if (archive.try_read(key, nested)) {
      flatten_archive(nested, prefix + key + "/", out);
    } else if (archive.try_read(key, t) || archive.try_read(key, t, /*is_buffer=*/true)) {
      out.optimizer[prefix + key] = t;
    } else if (archive.try_read(key, v)) {
      if (v.isTensor()) {
        out.optimizer[prefix + key] = v.toTensor();
      } else {
        std::ostringstream s;
        s << v;
        out.optimizer_values[prefix + key] = s.str();
      }
    }
  }
}

// The optimizer's archive names each parameter by its address in the process that saved it
// ("state/0x55.../momentum_buffer", ".../params/3" = "0x55..."); names them by their position in
// the parameter groups instead ("group0/param3"), so two processes' states compare.
void name_parameters_by_position(FinalState& s) {
  std::map<std::string, std::string> by_address;
  for (auto& [key, value] : s.optimizer_values) {
    const auto at = key.rfind("/params/");
    const auto group_at = at == std::string::npos ? at : key.rfind('/', at - 1);
    if (group_at == std::string::npos) continue;
    const std::string name =
        "group" + key.substr(group_at + 1, at - group_at - 1) + "/param" + key.substr(at + 8);
    by_address[value] = name;
    value = name;
  }
  std::map<std::string, torch::Tensor> renamed;
  for (const auto& [key, t] : s.optimizer) {
    std::string out, part;
    std::istringstream parts(key);
    while (std::getline(parts, part, '/')) {
      auto it = by_address.find(part);
      out += (out.empty() ? "" : "/") + (it == by_address.end() ? part : it->second);
    }
    renamed[out] = t;
  }
  s.optimizer = std::move(renamed);
}

FinalState final_state(const std::string& run_dir) {
  auto data = load_safetensors(run_dir + "/checkpoints/last.safetensors");
  FinalState s;
  for (auto& [name, t] : data.tensors) {
    if (name == "__optimizer__") {
      std::istringstream in(std::string(reinterpret_cast<const char*>(t.data_ptr<uint8_t>()),
                                        static_cast<std::size_t>(t.numel())));
      torch::serialize::InputArchive archive;
      archive.load_from(in);
      flatten_archive(archive, "", s);
      name_parameters_by_position(s);
    } else if (name == "__rng_cpu__") {
      s.rng = t;
    } else {
      s.model[name] = t;
    }
  }
  s.trainer = nlohmann::json::parse(data.metadata.at("mmfuse_state"));
  // Wall-clock fields differ between any two runs (and so does the metrics size, through them).
  for (const char* key : {"train_seconds", "metrics_bytes"}) s.trainer.erase(key);
  // Measured, not computed: wall clock and the process's peak memory.
  for (auto& e : s.trainer["history"]) {
    e.erase("epoch_seconds");
    e.erase("peak_rss_mb");
  }
  if (s.trainer.contains("best_entry")) {
    s.trainer["best_entry"].erase("epoch_seconds");
    s.trainer["best_entry"].erase("peak_rss_mb");
  }
  return s;
}

// The next `n` numbers of the CPU random stream whose state is `state`.
torch::Tensor random_stream(const torch::Tensor& state, int64_t n = 64) {
  auto gen = at::make_generator<at::CPUGeneratorImpl>();
  gen.set_state(state);
  return torch::randn({n}, gen);
}

// max |a - b| over tensors present in both maps; names only in one map count as infinite.
template <class Map>
std::vector<std::string> tensor_differences(const std::string& what, const Map& a, const Map& b) {
  std::vector<std::string> out;
  for (const auto& [name, t] : a) {
    auto it = b.find(name);
    if (it == b.end()) {
      out.push_back(what + " " + name + ": only in the first run");
    } else if (!torch::equal(t, it->second)) {
      const double d = t.sizes() == it->second.sizes()
                           ? (t.to(torch::kDouble) - it->second.to(torch::kDouble))
                                 .abs()
                                 .max()
                                 .template item<double>()
                           : INFINITY;
      out.push_back(what + " " + name + ": max |diff| " + std::to_string(d));
    }
  }
  for (const auto& [name, t] : b) {
    if (!a.count(name)) out.push_back(what + " " + name + ": only in the second run");
  }
  return out;
}

// Everything in which the final training states of two runs differ (empty: identical).
std::vector<std::string> final_state_differences(const std::string& run_a,
                                                 const std::string& run_b) {
  const FinalState a = final_state(run_a), b = final_state(run_b);
  auto out = tensor_differences("weight", a.model, b.model);
  auto opt = tensor_differences("optimizer", a.optimizer, b.optimizer);
  out.insert(out.end(), opt.begin(), opt.end());
  if (a.optimizer_values != b.optimizer_values) {
    out.push_back("optimizer settings: " + ::testing::PrintToString(a.optimizer_values) + " vs " +
                  ::testing::PrintToString(b.optimizer_values));
  }
  if (!torch::equal(a.rng, b.rng)) out.push_back("CPU RNG state");
  if (!torch::equal(random_stream(a.rng), random_stream(b.rng))) out.push_back("CPU RNG stream");
  if (a.trainer != b.trainer) {
    out.push_back("trainer state: " + a.trainer.dump() + " vs " + b.trainer.dump());
  }
  return out;
}

// metrics.jsonl without its wall-clock fields.
std::vector<nlohmann::json> run_metric_lines(const std::string& run_dir) {
  std::vector<nlohmann::json> lines;
  std::istringstream in(read_file(run_dir + "/metrics.jsonl"));
  for (std::string l; std::getline(in, l);) {
    lines.push_back(nlohmann::json::parse(l));
    lines.back().erase("epoch_seconds");
    lines.back().erase("peak_rss_mb");
  }
  return lines;
}

// One uninterrupted run and one killed (SIGKILL) after step 22, whose last checkpoint is from
// step 20, made once and shared by the resume tests; each test resumes a copy of the killed one.
struct KilledRun {
  Fixture f;
  std::string uninterrupted, killed, error;
};

const KilledRun& killed_run() {
  static std::unique_ptr<KilledRun> k;
  if (k) return *k;
  k = std::make_unique<KilledRun>();
  k->uninterrupted = k->f.dir.file("a");
  k->killed = k->f.dir.file("killed");
  auto ra = testing::run_mmfuse("train --no-progress --config " + k->f.config + " --out " +
                                k->uninterrupted);
  if (ra.exit_code != 0) k->error = "uninterrupted run failed: " + ra.output;
  auto rb = testing::run_mmfuse("train --no-progress --config " + k->f.config +
                                " train.kill_after_steps=22 --out " + k->killed);
  if (!(rb.exit_code == -1 || rb.exit_code == 128 + 9)) {
    k->error +=
        "expected death by SIGKILL, got exit " + std::to_string(rb.exit_code) + ": " + rb.output;
  }
  return *k;
}

// A copy of the killed run under `name`, to resume.
std::string copy_of_killed_run(const std::string& name) {
  const auto& k = killed_run();
  const std::string dir = k.f.dir.file(name);
  fs::remove_all(dir);
  fs::copy(k.killed, dir, fs::copy_options::recursive);
  return dir;
}

TEST(Trainer, KillAndResumeGivesIdenticalWeightsOptimizerAndRng) {
  const auto& k = killed_run();
  ASSERT_EQ(k.error, "");
  const std::string b = copy_of_killed_run("b");
  EXPECT_FALSE(fs::exists(b + "/model.safetensors"));
  EXPECT_EQ(read_checkpoint_state(b + "/checkpoints/last.safetensors")["step"].get<int64_t>(), 20);
  auto resumed = testing::run_mmfuse("train --no-progress --resume " + b);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  // The last weights, the optimizer state (momentum buffers) and the RNG stream at the end: the
  // selected weights in model.safetensors alone are the best epoch's, here epoch 1, saved before
  // the kill.
  const auto diffs = final_state_differences(k.uninterrupted, b);
  EXPECT_TRUE(diffs.empty()) << ::testing::PrintToString(diffs);
  EXPECT_FALSE(final_state(b).optimizer.empty()) << "no optimizer state in the checkpoint";
  auto wa = load_safetensors(k.uninterrupted + "/model.safetensors").tensors;
  auto wb = load_safetensors(b + "/model.safetensors").tensors;
  EXPECT_TRUE(tensor_differences("selected weight", wa, wb).empty());
  // Same log too: lines past the checkpoint were dropped and written again once, same losses.
  EXPECT_EQ(run_metric_lines(k.uninterrupted), run_metric_lines(b));
}

// The negative control of the test above: a resume that does not continue the same run (here
// with another learning rate) is detected by the same comparison.
TEST(Trainer, ResumeWithAnotherLearningRateIsDetected) {
  const auto& k = killed_run();
  ASSERT_EQ(k.error, "");
  const std::string c = copy_of_killed_run("c");
  std::string config = read_file(c + "/config.yaml");
  const auto at = config.find("lr: 0.05");
  ASSERT_NE(at, std::string::npos) << config;
  config.replace(at, 8, "lr: 0.9");
  write_file_atomic(c + "/config.yaml", config);
  auto resumed = testing::run_mmfuse("train --no-progress --resume " + c);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  const auto diffs = final_state_differences(k.uninterrupted, c);
  auto has = [&](const std::string& prefix) {
    return std::any_of(diffs.begin(), diffs.end(),
                       [&](const std::string& d) { return d.rfind(prefix, 0) == 0; });
  };
  EXPECT_TRUE(has("weight ")) << ::testing::PrintToString(diffs);
  EXPECT_TRUE(has("optimizer ")) << ::testing::PrintToString(diffs);
  EXPECT_NE(run_metric_lines(k.uninterrupted), run_metric_lines(c));
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
