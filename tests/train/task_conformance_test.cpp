// Every registered training task through the one loop (train/trainer.h), end to end with the
// mmfuse binary on a small synthetic dataset (tabular + text + 28x28 images, 3 classes):
//   - a run killed with SIGKILL mid-epoch and resumed ends with the same last checkpoint as an
//     uninterrupted run: model, optimizer state, companions (a GAN's critics) and RNG state,
//     and the same metrics.jsonl (timings aside);
//   - a loss that becomes NaN stops the run with an error naming the step, the last good
//     checkpoint kept;
//   - data without a val split (train and val manifests both in `train`) trains for
//     train.epochs and keeps the last epoch when the config says `select: last`.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "mmfuse/core/fs.h"
#include "mmfuse/core/safetensors.h"
#include "mmfuse/train/checkpoint.h"
#include "mmfuse/train/task.h"
#include "synthetic_data.h"
#include "test_util.h"

namespace mmfuse::train {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::SyntheticRun;
using testing::TempDir;

// The values of a serialized optimizer state (torch's archive bytes), by dotted key: the archive
// bytes themselves are not reproducible (they embed record names), the state is.
void archive_values(torch::serialize::InputArchive& a, const std::string& prefix,
                    std::map<std::string, torch::Tensor>& out) {
  for (const auto& key : a.keys()) {
    torch::Tensor t;
    c10::IValue v;
    torch::serialize::InputArchive sub;
    if (a.try_read(key, t)) {
      out[prefix + key] = t;
    } else if (a.try_read(key, sub)) {
      archive_values(sub, prefix + key + ".", out);
    } else if (a.try_read(key, v)) {  // a number, flag or list: compared as its printed form
      std::ostringstream text;
      text << v;
      const std::string str = text.str();
      out[prefix + key] = torch::from_blob(const_cast<char*>(str.data()),
                                           {static_cast<int64_t>(str.size())}, torch::kUInt8)
                              .clone();
    }
  }
}

std::map<std::string, torch::Tensor> optimizer_values(const torch::Tensor& bytes) {
  const auto c = bytes.contiguous();
  std::istringstream in(std::string(reinterpret_cast<const char*>(c.data_ptr<uint8_t>()),
                                    static_cast<std::size_t>(c.numel())));
  torch::serialize::InputArchive archive;
  archive.load_from(in);
  std::map<std::string, torch::Tensor> raw, out;
  archive_values(archive, "", raw);
  // LibTorch keys a parameter's state by the address of its tensor in the saving process (and
  // maps them back by position on load): name each by its position instead.
  std::map<std::string, std::string> name_of;  // address -> "param<group>/<index>"
  for (const auto& [key, value] : raw) {
    const auto at = key.find(".params/");
    if (at == std::string::npos) continue;
    const std::string address =
        value.scalar_type() == torch::kUInt8
            ? std::string(reinterpret_cast<const char*>(value.data_ptr<uint8_t>()),
                          static_cast<std::size_t>(value.numel()))
            : std::to_string(value.item<int64_t>());
    name_of[address] = "param" + key.substr(at + 8);
  }
  for (const auto& [key, value] : raw) {
    if (key.find(".params/") != std::string::npos) continue;
    std::string k = key;
    for (const auto& [address, name] : name_of) {
      for (auto p = k.find(address); p != std::string::npos; p = k.find(address)) {
        k.replace(p, address.size(), name);
      }
    }
    out[k] = value;
  }
  return out;
}

// A JSON value without its measured fields (wall clock: "seconds", "epoch_seconds"; the process's
// peak memory: "peak_rss_mb"), at any depth: they differ between two runs of the same computation.
json without_timings(json j) {
  if (j.is_array()) {
    for (auto& v : j) v = without_timings(v);
    return j;
  }
  if (!j.is_object()) return j;
  for (const char* key : {"seconds", "epoch_seconds", "peak_rss_mb"}) j.erase(key);
  for (auto& [k, v] : j.items()) v = without_timings(v);
  return j;
}

// metrics.jsonl without the wall-clock fields.
std::vector<json> metric_lines(const std::string& path) {
  std::vector<json> out;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    json j = json::parse(line);
    out.push_back(without_timings(j));
  }
  return out;
}

class TaskConformance : public ::testing::TestWithParam<models::TaskKind> {};

TEST_P(TaskConformance, KillAndResumeEndsWithTheSameLastCheckpoint) {
  SyntheticRun f;
  const auto kind = GetParam();
  const std::string cfg = f.config(kind);
  const std::string a = f.dir.file("a"), b = f.dir.file("b");
  auto ra = testing::run_mmfuse("-q train --no-progress --config " + cfg + " --out " + a);
  ASSERT_EQ(ra.exit_code, 0) << ra.output;
  // 8 steps an epoch: killed at step 14 of epoch 2, after the checkpoint of step 12.
  auto rb = testing::run_mmfuse("-q train --no-progress --config " + cfg +
                                " train.kill_after_steps=14 --out " + b);
  ASSERT_TRUE(rb.exit_code == -1 || rb.exit_code == 128 + 9)
      << "expected death by SIGKILL, got exit " << rb.exit_code << ": " << rb.output;
  ASSERT_EQ(read_checkpoint_state(b + "/checkpoints/last.safetensors")["step"].get<int64_t>(), 12);
  auto resumed = testing::run_mmfuse("-q train --no-progress --resume " + b);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  const auto la = load_safetensors(a + "/checkpoints/last.safetensors");
  const auto lb = load_safetensors(b + "/checkpoints/last.safetensors");
  ASSERT_EQ(la.tensors.size(), lb.tensors.size());
  int optimizers = 0, companions = 0;
  for (const auto& [name, t] : la.tensors) {
    ASSERT_TRUE(lb.tensors.count(name)) << name;
    if (name.rfind("__optimizer__", 0) == 0) {
      ++optimizers;
      const auto va = optimizer_values(t), vb = optimizer_values(lb.tensors.at(name));
      EXPECT_GT(va.size(), 0u) << name;
      ASSERT_EQ(va.size(), vb.size()) << name;
      for (const auto& [key, value] : va) {
        ASSERT_TRUE(vb.count(key)) << name << " " << key;
        EXPECT_TRUE(torch::equal(value, vb.at(key))) << name << " " << key << " differs";
      }
      continue;
    }
    EXPECT_TRUE(torch::equal(t, lb.tensors.at(name))) << name << " differs after kill and resume";
    companions += name.rfind("__companion__", 0) == 0;
  }
  EXPECT_GE(optimizers, 1);
  EXPECT_TRUE(la.tensors.count("__rng_cpu__"));
  if (kind == models::TaskKind::translate) {
    EXPECT_EQ(optimizers, 3);  // the translator's, the discriminator's, the classifier's
    EXPECT_GT(companions, 0);
  }
  const auto ma = metric_lines(a + "/metrics.jsonl"), mb = metric_lines(b + "/metrics.jsonl");
  EXPECT_GT(ma.size(), 3u);
  EXPECT_EQ(ma, mb);
  const json sa = json::parse(read_file(a + "/summary.json"));
  const json sb = json::parse(read_file(b + "/summary.json"));
  EXPECT_EQ(sa["task"], models::to_string(kind));
  EXPECT_EQ(sa["best_epoch"], sb["best_epoch"]);
  EXPECT_EQ(without_timings(sa["test"]), without_timings(sb["test"]));
  EXPECT_TRUE(fs::exists(b + "/report.html"));
}

TEST_P(TaskConformance, NanLossStopsNamingTheStepAndKeepsTheCheckpoint) {
  SyntheticRun f;
  const std::string cfg = f.config(GetParam(), "  grad_clip_norm: 0\n");
  const std::string out = f.dir.file("nan");
  // A learning rate no model survives: Adam's steps of 1e30 overflow the weights to Inf/NaN.
  auto r = testing::run_mmfuse("-q train --no-progress --config " + cfg +
                               " train.optimizer.lr=1.0e+30 --out " + out);
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_THAT(r.output, ::testing::HasSubstr("loss became"));
  EXPECT_THAT(r.output, ::testing::HasSubstr("the last good checkpoint is kept at"));
  EXPECT_FALSE(fs::exists(out + "/model.safetensors"));
}

TEST_P(TaskConformance, TrainsWithoutAValSplitAndKeepsTheLastEpoch) {
  SyntheticRun f;
  std::string cfg_text = read_file(f.config(GetParam(), "  select: last\n"));
  cfg_text.replace(cfg_text.find("data: data.yaml"), 15, "data: pooled.yaml");
  const std::string cfg = f.dir.file("pooled_config.yaml");
  write_file_atomic(cfg, cfg_text);
  std::string spec = read_file(f.dir.file("data.yaml"));
  const std::string splits = "{train: [train.jsonl], val: [val.jsonl], test: [test.jsonl]}";
  spec.replace(spec.find(splits), splits.size(),
               "{train: [train.jsonl, val.jsonl], test: [test.jsonl]}");
  write_file_atomic(f.dir.file("pooled.yaml"), spec);
  const std::string out = f.dir.file("pooled_run");
  auto r = testing::run_mmfuse("-q train --no-progress --config " + cfg + " --out " + out);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const json s = json::parse(read_file(out + "/summary.json"));
  EXPECT_EQ(s["train_samples"].get<int64_t>(), 96 + 24);
  EXPECT_FALSE(s.contains("val"));
  EXPECT_EQ(s["selected"], "last");
  EXPECT_EQ(s["selected_epoch"].get<int64_t>(), 3);
  ASSERT_EQ(s["history"].size(), 3u);
  for (const auto& e : s["history"]) EXPECT_FALSE(e.contains("val_metric")) << e.dump();
  EXPECT_TRUE(s.contains("test"));
  EXPECT_TRUE(fs::exists(out + "/model.safetensors"));
  EXPECT_TRUE(fs::exists(out + "/report.html"));
  // The default, selecting the best epoch, needs a val split: refused, saying what to set.
  auto best = testing::run_mmfuse("-q train --no-progress --config " + cfg +
                                  " train.select=best --out " + f.dir.file("refused"));
  EXPECT_EQ(best.exit_code, 2) << best.output;
  EXPECT_THAT(best.output, ::testing::HasSubstr("set train.select: last"));
}

std::string kind_name(const ::testing::TestParamInfo<models::TaskKind>& info) {
  return models::to_string(info.param);
}

INSTANTIATE_TEST_SUITE_P(EveryTask, TaskConformance, ::testing::ValuesIn(task_registry().kinds()),
                         kind_name);

}  // namespace
}  // namespace mmfuse::train
