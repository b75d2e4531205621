// Communicator and GradientReducer across real processes: each test starts 2 ranks of this test
// binary (DistributedWorker.* in distributed_worker_test.cpp) on an ephemeral port and checks
// what they wrote against a single-process computation.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "mmfuse/core/error.h"
#include "test_util.h"
#include "train/ddp_test_util.h"

namespace mmfuse::train {
namespace {

using namespace ::mmfuse::testing;
using ::testing::HasSubstr;

std::vector<torch::Tensor> load(const std::string& path) {
  std::vector<torch::Tensor> out;
  torch::load(out, path);
  return out;
}

double max_abs_diff(const torch::Tensor& a, const torch::Tensor& b) {
  return (a - b).abs().max().item<double>();
}

/// Runs DistributedWorker.<test> on 2 ranks; fails the test (with both logs) unless both exit 0.
void run_workers(const std::string& test, const TempDir& dir) {
  WorkerProcesses workers(test, 2, free_port(), dir.str());
  const bool ok = workers.wait(std::chrono::seconds(120));
  ASSERT_TRUE(ok) << workers.report();
}

/// What DistributedWorker.Collectives wrote on both ranks; `agent_store`: whether the ranks saw
/// torchrun's TORCHELASTIC_USE_AGENT_STORE=True.
void check_collectives(const TempDir& dir, bool agent_store) {
  // What rank 0 broadcast: its own tensors (seed 100).
  torch::manual_seed(100);
  const auto f = torch::randn({3, 4});
  const auto i = torch::arange(5);
  const auto b = torch::rand({6}) > 0.5;
  const auto expected_rows =
      torch::cat({torch::arange(3, torch::kFloat), torch::arange(5, torch::kFloat) + 100})
          .unsqueeze(1)
          .repeat({1, 2});
  for (int r = 0; r < 2; ++r) {
    SCOPED_TRACE("rank " + std::to_string(r));
    auto t = load(dir.file("collectives_rank" + std::to_string(r) + ".pt"));
    ASSERT_EQ(t.size(), 11u);
    EXPECT_EQ(t[10][0].item<int64_t>(), agent_store ? 1 : 0);
    EXPECT_TRUE(torch::equal(t[0], f));
    EXPECT_TRUE(torch::equal(t[1], i));
    EXPECT_TRUE(torch::equal(t[2], b));
    EXPECT_TRUE(torch::equal(t[3], torch::full({2}, 2.0, torch::kDouble)));  // rank 1's
    EXPECT_TRUE(torch::equal(t[4], torch::full({2, 2}, 3.0)));               // 1 + 2
    EXPECT_TRUE(torch::equal(t[5], torch::full({3}, 30, torch::kLong)));     // 10 + 20
    EXPECT_DOUBLE_EQ(t[6].item<double>(), 0.25 + 1.25);
    EXPECT_TRUE(torch::equal(t[7], expected_rows)) << t[7];
    EXPECT_TRUE(torch::equal(t[8], torch::cat({torch::arange(3), torch::arange(5) + 100})));
    EXPECT_TRUE(torch::equal(t[9], torch::ones({2, 2})));  // rank 0 sent 0 rows
  }
}

TEST(DistributedTest, CollectivesAcrossTwoProcesses) {
  TempDir dir;
  ASSERT_NO_FATAL_FAILURE(run_workers("Collectives", dir));
  check_collectives(dir, false);
}

/// torchrun itself (Debian's python3-torch) starting the ranks: its default static rendezvous,
/// where its agent hosts the store (TORCHELASTIC_USE_AGENT_STORE=True), and the c10d rendezvous
/// of --standalone, where rank 0 hosts it on a port the agent chose. --standalone itself is not
/// used: torchrun 1.13 puts its rendezvous on the fixed port 29400, which two tests (or any other
/// job) running at once would share.
TEST(DistributedTest, TorchrunLaunchesTheRanks) {
  MMFUSE_REQUIRE(missing_file("/usr/bin/torchrun", "python3-torch"));
  MMFUSE_REQUIRE(missing_python({"torch"}));
  for (bool standalone : {false, true}) {
    SCOPED_TRACE(standalone ? "c10d rendezvous" : "static rendezvous");
    TempDir dir;
    // --redirects/--tee: torchrun 1.13 on Python 3.11 cannot map their default "0" to its Std
    // flag (3.11 no longer iterates a Flag's zero member), so the ranks' stdout is teed instead.
    std::vector<std::string> argv{
        "/usr/bin/python3", "/usr/bin/torchrun", "--nnodes=1", "--nproc_per_node=2",
        "--max_restarts=0", "--redirects=1",     "--tee=1",    "--log_dir=" + dir.file("torchrun"),
        "--no_python"};
    if (standalone) {
      for (auto& a : c10d_rendezvous_args()) argv.push_back(a);
    } else {
      argv.push_back("--master_addr=127.0.0.1");
      argv.push_back("--master_port=" + std::to_string(free_port()));
    }
    argv.push_back(self_exe());
    argv.push_back("--gtest_filter=DistributedWorker.Collectives");
    WorkerProcesses torchrun(dir.str());
    torchrun.start(argv, {{"MMFUSE_DDP_TEST_DIR", dir.str()}});
    ASSERT_TRUE(torchrun.wait(std::chrono::seconds(120))) << torchrun.report();
    check_collectives(dir, !standalone);
  }
}

/// A rank of PyTorch itself, joined with init_process_group("gloo", "env://"), and a C++ rank in
/// one job, each hosting the store in turn: the rendezvous keys and the collectives match.
TEST(DistributedTest, PythonRankJoinsTheSameJob) {
  MMFUSE_REQUIRE(missing_python({"torch"}));
  const std::string peer = std::string(MMFUSE_SOURCE_DIR) + "/tests/train/ddp_python_peer.py";
  for (int python_rank : {1, 0}) {
    SCOPED_TRACE("Python is rank " + std::to_string(python_rank));
    TempDir dir;
    const int port = free_port();
    WorkerProcesses ranks(dir.str());
    for (int r = 0; r < 2; ++r) {
      if (r == python_rank) {
        ranks.start({"/usr/bin/python3", peer}, rank_env(r, 2, port, dir.str()));
      } else {
        ranks.start({self_exe(), "--gtest_filter=DistributedWorker.PythonPeer"},
                    rank_env(r, 2, port, dir.str()));
      }
    }
    ASSERT_TRUE(ranks.wait(std::chrono::seconds(120))) << ranks.report();
    const std::string expected = "3 3 3 3\n0 1 2 3 4 5\n";  // 1 + 2; rank 0's arange
    for (int r = 0; r < 2; ++r) {
      const std::string name =
          (r == python_rank ? "python" : "cpp") + std::string("_rank") + std::to_string(r) + ".txt";
      EXPECT_EQ(read_text(dir.file(name)), expected) << name;
    }
  }
}

TEST(DistributedTest, ReducerOnTwoRanksMatchesOneProcessWithTheWholeBatch) {
  TempDir dir;
  ASSERT_NO_FATAL_FAILURE(run_workers("ReducerMatchesOneProcess", dir));
  // One process, the whole global batch each step (the reducer of world 1 does nothing).
  auto model = make_mlp(1000);
  const auto initial = model->parameters()[0].detach().clone();
  auto single = std::make_shared<Communicator>(DistributedOptions{});
  GradientReducer noop(single, model->parameters());
  train_mlp(model, &noop, 0, 8);
  const auto expected = model->parameters();
  ASSERT_GT(max_abs_diff(expected[0], initial), 1e-2);  // training moved the weights

  auto rank0 = load(dir.file("reducer_rank0.pt"));
  auto rank1 = load(dir.file("reducer_rank1.pt"));
  const std::size_t n = expected.size();
  ASSERT_EQ(rank0.size(), 2 * (n + 1));
  for (int mode = 0; mode < 2; ++mode) {
    SCOPED_TRACE(mode == 0 ? "overlap on" : "overlap off");
    const std::size_t base = static_cast<std::size_t>(mode) * (n + 1);
    // [b3 w3] [b2 w2] [b1 w1]: the first bucket capped at 0.4 KB, the others at 1 KB.
    EXPECT_EQ(rank0[base].item<int64_t>(), 3);
    for (std::size_t k = 0; k < n; ++k) {
      EXPECT_LE(max_abs_diff(rank0[base + 1 + k], expected[k]), 1e-5) << "parameter " << k;
      EXPECT_TRUE(torch::equal(rank0[base + 1 + k], rank1[base + 1 + k])) << "parameter " << k;
      // Overlap changes the timing only: the result is bitwise the same.
      EXPECT_TRUE(torch::equal(rank0[1 + k], rank0[n + 2 + k])) << "parameter " << k;
    }
  }
}

TEST(DistributedTest, ParameterUnusedOnOneRankGetsTheWeightedMeanAndDoesNotHang) {
  TempDir dir;
  ASSERT_NO_FATAL_FAILURE(run_workers("UnusedParameterOnOneRank", dir));
  // One process: rank 0's 3 samples use both heads, rank 1's 5 samples only head_a.
  TwoHeads model;
  torch::manual_seed(9);
  const auto x = torch::randn({8, 8});
  const auto y = torch::randn({8, 1});
  auto h = torch::tanh(model.trunk(x));
  auto loss = ((model.head_a(h) - y).pow(2).sum() +
               (model.head_b(h.narrow(0, 0, 3)) - y.narrow(0, 0, 3)).pow(2).sum()) /
              8;
  loss.backward();
  const auto params = model.parameters();
  for (int r = 0; r < 2; ++r) {
    SCOPED_TRACE("rank " + std::to_string(r));
    auto t = load(dir.file("unused_rank" + std::to_string(r) + ".pt"));
    ASSERT_EQ(t.size(), params.size() + 1);
    EXPECT_EQ(t[0].item<int64_t>(), r == 0 ? 1 : 0);  // rank 1 had no head_b gradient
    for (std::size_t k = 0; k < params.size(); ++k) {
      EXPECT_LE(max_abs_diff(t[k + 1], params[k].grad()), 1e-6) << "parameter " << k;
    }
  }
}

TEST(DistributedTest, CollectiveAfterAPeerExitedFailsNamingIt) {
  TempDir dir;
  ASSERT_NO_FATAL_FAILURE(run_workers("PeerExits", dir));
  const std::string text = read_text(dir.file("peer_exits.txt"));
  const double seconds = std::stod(text);
  EXPECT_LT(seconds, 10.0 + 5.0);
  EXPECT_THAT(text, HasSubstr("allreduce failed on rank 0 of 2"));
  EXPECT_THAT(text, HasSubstr("a peer process probably exited"));
}

TEST(DistributedTest, UnreachableStoreFailsWithinTheTimeoutNamingTheAddress) {
  DistributedOptions o;
  o.rank = 1;
  o.world_size = 2;
  o.master_port = free_port();  // nobody listens there
  o.timeout = std::chrono::seconds(2);
  const auto start = std::chrono::steady_clock::now();
  try {
    Communicator comm(o);
    FAIL() << "connected to a port nobody listens on";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("127.0.0.1:" + std::to_string(o.master_port)));
    EXPECT_THAT(e.what(), HasSubstr("rank 1 of 2"));
    EXPECT_THAT(e.what(), HasSubstr("timeout of 2 s"));
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 2.0 + 3.0);
}

TEST(DistributedTest, RankZeroAloneTimesOutWaitingForTheOthers) {
  DistributedOptions o;
  o.world_size = 2;
  o.master_port = free_port();
  o.timeout = std::chrono::seconds(1);
  o.gloo_interfaces = {"lo"};
  const auto start = std::chrono::steady_clock::now();
  try {
    Communicator comm(o);
    FAIL() << "rank 0 of 2 returned without rank 1";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("rank 0 of 2"));
    EXPECT_THAT(e.what(), HasSubstr("127.0.0.1:" + std::to_string(o.master_port)));
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(seconds, 1.0 * 3 + 3.0);  // store, process group and barrier waits at most
}

TEST(DistributedTest, SingleProcessCommunicatorIsANoOp) {
  Communicator comm(DistributedOptions{});
  EXPECT_EQ(comm.backend_name(), "none");
  EXPECT_TRUE(comm.is_main());
  std::vector<torch::Tensor> t{torch::ones({2})};
  comm.allreduce_sum(t);
  comm.broadcast(t);
  EXPECT_TRUE(torch::equal(t[0], torch::ones({2})));
  EXPECT_DOUBLE_EQ(comm.allreduce_sum(2.5), 2.5);
  auto rows = torch::arange(6).view({3, 2});
  EXPECT_TRUE(torch::equal(comm.all_gather_cat(rows), rows));
  comm.barrier();
}

}  // namespace
}  // namespace mmfuse::train
