// Data-parallel training end to end: `mmfuse train` started as 2 processes on loopback Gloo (the
// environment torchrun gives), and under torchrun itself with a worker killed mid-epoch.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <filesystem>

#include "ddp_test_util.h"
#include "mmfuse/core/fs.h"
#include "mmfuse/core/safetensors.h"
#include "mmfuse/train/checkpoint.h"
#include "synthetic_data.h"
#include "test_util.h"

namespace mmfuse::train {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::SyntheticRun;
using testing::WorkerProcesses;

// `mmfuse train` as `world` processes (rank r with torchrun's variables); true when all succeed.
bool train_processes(const std::string& args, int world, const std::string& log_dir,
                     std::string* report) {
  fs::create_directories(log_dir);
  WorkerProcesses procs(log_dir);
  const int port = testing::free_port();
  for (int r = 0; r < world; ++r) {
    auto env = testing::rank_env(r, world, port, log_dir);
    env["MMFUSE_DDP_TEST_DIR"] = "";
    std::vector<std::string> argv = {MMFUSE_BINARY, "-q", "train", "--no-progress"};
    std::istringstream in(args);
    for (std::string a; in >> a;) argv.push_back(a);
    procs.start(argv, world > 1 ? env : std::map<std::string, std::string>{});
  }
  const bool ok = procs.wait(std::chrono::seconds(600));
  *report = procs.report();
  return ok;
}

double file_max_abs_diff(const std::string& a, const std::string& b) {
  const auto ta = load_safetensors(a).tensors, tb = load_safetensors(b).tensors;
  EXPECT_EQ(ta.size(), tb.size());
  double d = 0;
  for (const auto& [name, t] : ta) {
    if (name.rfind("__", 0) == 0) continue;  // optimizer bytes, RNG
    EXPECT_TRUE(tb.count(name)) << name;
    if (tb.count(name)) d = std::max(d, (t - tb.at(name)).abs().max().item<double>());
  }
  return d;
}

class DataParallelTraining : public ::testing::TestWithParam<models::TaskKind> {};

// 2 processes x batch 6 take the same steps as 1 process x batch 12: the same weights (models
// without batch norm and dropout; the retrieval loss sees the negatives of the global batch).
TEST_P(DataParallelTraining, TwoProcessesOfHalfBatchesEqualOneProcess) {
  SyntheticRun f;
  const std::string cfg = f.config(GetParam(), "  select: last\n", /*batch_norm=*/false);
  const std::string one = f.dir.file("one"), two = f.dir.file("two");
  std::string report;
  ASSERT_TRUE(train_processes("--config " + cfg + " --out " + one, 1, f.dir.file("log1"), &report))
      << report;
  ASSERT_TRUE(train_processes("--config " + cfg + " train.batch_size=6 --out " + two, 2,
                              f.dir.file("log2"), &report))
      << report;
  const double diff = file_max_abs_diff(one + "/model.safetensors", two + "/model.safetensors");
  EXPECT_LE(diff, 1e-5) << "2 processes x 6 vs 1 x 12";
  const json s1 = json::parse(read_file(one + "/summary.json"));
  const json s2 = json::parse(read_file(two + "/summary.json"));
  EXPECT_EQ(s2["processes"], 2);
  EXPECT_EQ(s1["steps"], s2["steps"]);
  EXPECT_EQ(s1["steps"], 3 * 8);
  for (std::size_t e = 0; e < s1["history"].size(); ++e) {  // validation over all shards
    EXPECT_NEAR(s1["history"][e]["val_metric"].get<double>(),
                s2["history"][e]["val_metric"].get<double>(), 1e-4);
  }
  // One metrics log, written by process 0: as many lines as one process writes.
  auto lines = [](const std::string& p) {
    const std::string t = read_file(p);
    return std::count(t.begin(), t.end(), '\n');
  };
  EXPECT_EQ(lines(one + "/metrics.jsonl"), lines(two + "/metrics.jsonl"));
}

std::string ddp_kind_name(const ::testing::TestParamInfo<models::TaskKind>& info) {
  return models::to_string(info.param);
}

INSTANTIATE_TEST_SUITE_P(ExactTasks, DataParallelTraining,
                         ::testing::Values(models::TaskKind::supervised,
                                           models::TaskKind::retrieval),
                         ddp_kind_name);

// A translator with batch norm and a GAN's critics trains on 2 processes too (batch norm keeps
// per-process statistics, as PyTorch's DDP does, so it is not bit-equal to one process).
TEST(DataParallelTraining, TranslationWithCriticsTrainsOnTwoProcesses) {
  SyntheticRun f;
  const std::string cfg = f.config(models::TaskKind::translate);
  std::string report;
  const std::string out = f.dir.file("two");
  ASSERT_TRUE(train_processes("--config " + cfg + " train.batch_size=6 --out " + out, 2,
                              f.dir.file("log"), &report))
      << report;
  const json s = json::parse(read_file(out + "/summary.json"));
  EXPECT_EQ(s["processes"], 2);
  EXPECT_LT(s["history"][2]["val_mse"].get<double>(), s["history"][0]["val_mse"].get<double>());
  EXPECT_TRUE(fs::exists(out + "/discriminator.safetensors"));
}

// Under torchrun --max_restarts 1, a worker killed mid-epoch restarts the group, which resumes
// from the last checkpoint and ends exactly where an uninterrupted 2-process run ends.
TEST(DataParallelTraining, TorchrunRestartsTheGroupAfterAWorkerDiesAndItResumes) {
  MMFUSE_REQUIRE(testing::missing_file("/usr/bin/torchrun", "python3-torch"));
  MMFUSE_REQUIRE(testing::missing_python({"torch"}));
  SyntheticRun f;
  const std::string cfg = f.config(models::TaskKind::supervised);
  std::string report;
  const std::string plain = f.dir.file("plain"), killed = f.dir.file("killed");
  ASSERT_TRUE(train_processes("--config " + cfg + " train.batch_size=6 --out " + plain, 2,
                              f.dir.file("log"), &report))
      << report;
  WorkerProcesses torchrun(f.dir.str());
  std::vector<std::string> argv{"/usr/bin/python3", "/usr/bin/torchrun"};
  for (auto& a : testing::c10d_rendezvous_args()) argv.push_back(a);  // --standalone's, free port
  // --redirects/--tee: Debian's torchrun 1.13 on Python 3.11 cannot map their default "0".
  const std::vector<std::string> rest{"--nproc_per_node=2",
                                      "--max_restarts=1",
                                      "--redirects=1",
                                      "--tee=1",
                                      "--log_dir=" + f.dir.file("torchrun"),
                                      "--no_python",
                                      MMFUSE_BINARY,
                                      "train",
                                      "--no-progress",
                                      "--config",
                                      cfg,
                                      "train.batch_size=6",
                                      "train.kill_after_steps=14",
                                      "train.kill_rank=1",
                                      "--out",
                                      killed};
  argv.insert(argv.end(), rest.begin(), rest.end());
  torchrun.start(argv, {});
  ASSERT_TRUE(torchrun.wait(std::chrono::seconds(600))) << torchrun.report();
  const std::string log = torchrun.report();
  EXPECT_THAT(log, ::testing::HasSubstr("resuming"));  // the restarted group resumed
  EXPECT_EQ(read_checkpoint_state(killed + "/checkpoints/last.safetensors")["step"], 24);
  EXPECT_EQ(file_max_abs_diff(plain + "/checkpoints/last.safetensors",
                              killed + "/checkpoints/last.safetensors"),
            0.0);
}

}  // namespace
}  // namespace mmfuse::train
