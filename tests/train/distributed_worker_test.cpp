// The ranks of the multi-process tests in distributed_test.cpp. Each DistributedWorker.* test
// runs only as a child process started by a DistributedTest.* parent (MMFUSE_DDP_TEST_DIR and
// RANK set) and is skipped in a normal run; the parents check what these write.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "mmfuse/core/error.h"
#include "train/ddp_test_util.h"

namespace mmfuse::train {
namespace {

using namespace ::mmfuse::testing;

#define MMFUSE_WORKER_ONLY(env)                                                         \
  auto env##_opt = worker_env();                                                        \
  if (!env##_opt) GTEST_SKIP() << "a rank of a DistributedTest.* test, run only by it"; \
  const WorkerEnv& env = *env##_opt

TEST(DistributedWorker, Collectives) {
  MMFUSE_WORKER_ONLY(env);
  Communicator comm(env.options);
  const int r = comm.rank();
  ASSERT_EQ(comm.world_size(), 2);
  EXPECT_EQ(comm.backend_name(), "gloo");

  // Broadcast from rank 0: float, int64 and bool tensors that differ per rank.
  torch::manual_seed(100 + r);
  std::vector<torch::Tensor> from0{torch::randn({3, 4}), torch::arange(5) * (r + 1),
                                   torch::rand({6}) > 0.5};
  comm.broadcast(from0, 0);
  std::vector<torch::Tensor> from1{torch::full({2}, r + 1.0, torch::kDouble)};
  comm.broadcast(from1, 1);

  std::vector<torch::Tensor> sums{torch::full({2, 2}, r + 1.0), torch::full({3}, 10 * (r + 1))};
  comm.allreduce_sum(sums);
  const double total = comm.allreduce_sum(r + 0.25);

  // 3 rows on rank 0, 5 on rank 1, row i of rank r = 100 * r + i.
  const int64_t rows = r == 0 ? 3 : 5;
  auto local = torch::arange(rows, torch::kFloat).unsqueeze(1).repeat({1, 2}) + 100 * r;
  auto gathered = comm.all_gather_cat(local);
  auto gathered_ids = comm.all_gather_cat(torch::arange(rows) + 100 * r);
  auto empty = comm.all_gather_cat(r == 0 ? torch::zeros({0, 2}) : torch::ones({2, 2}));
  comm.barrier();

  const auto how =
      torch::tensor({int64_t{env.options.use_agent_store}, int64_t{env.options.restart_count}});
  torch::save(std::vector<torch::Tensor>{from0[0], from0[1], from0[2], from1[0], sums[0], sums[1],
                                         torch::tensor({total}, torch::kDouble), gathered,
                                         gathered_ids, empty, how},
              env.file("collectives"));
}

/// The C++ side of tests/train/ddp_python_peer.py: the same collectives, written the same way.
TEST(DistributedWorker, PythonPeer) {
  MMFUSE_WORKER_ONLY(env);
  Communicator comm(env.options);
  const int r = comm.rank();
  std::vector<torch::Tensor> summed{torch::full({4}, r + 1.0)};
  comm.allreduce_sum(summed);
  std::vector<torch::Tensor> shared{torch::arange(6, torch::kFloat) * (r + 1)};
  comm.broadcast(shared, 0);
  comm.barrier();
  std::ofstream out(env.dir + "/cpp_rank" + std::to_string(r) + ".txt");
  for (const auto& t : {summed[0], shared[0]}) {
    for (int64_t k = 0; k < t.numel(); ++k) out << (k ? " " : "") << t[k].item<float>();
    out << "\n";
  }
}

TEST(DistributedWorker, ReducerMatchesOneProcess) {
  MMFUSE_WORKER_ONLY(env);
  auto comm = std::make_shared<Communicator>(env.options);
  std::vector<torch::Tensor> saved;
  for (bool overlap : {true, false}) {
    auto model = make_mlp(1000 + comm->rank());  // different seeds: broadcast must align them
    broadcast_state(*comm, *model);
    GradientReducerOptions o;
    o.bucket_mb = 0.001;  // ~1 KB: 3 buckets for this small model
    o.first_bucket_mb = 0.0004;
    o.overlap = overlap;
    GradientReducer reducer(comm, model->parameters(), o);
    train_mlp(model, &reducer, comm->rank(), 4);
    saved.push_back(torch::tensor({reducer.num_buckets()}));
    for (const auto& p : model->parameters()) saved.push_back(p.detach().clone());
  }
  torch::save(saved, env.file("reducer"));
}

// TwoHeads (ddp_test_util.h): rank 0 uses both heads, rank 1 only head_a (head_b, registered
// last, sits in the first bucket: rank 1 can only launch it from finish()).

TEST(DistributedWorker, UnusedParameterOnOneRank) {
  MMFUSE_WORKER_ONLY(env);
  auto comm = std::make_shared<Communicator>(env.options);
  const int r = comm->rank();
  auto model = std::make_shared<TwoHeads>();
  GradientReducerOptions o;
  o.bucket_mb = 1e-6;  // one parameter per bucket
  o.first_bucket_mb = 1e-6;
  GradientReducer reducer(comm, model->parameters(), o);
  ASSERT_EQ(reducer.num_buckets(), 6);
  torch::manual_seed(9);
  const auto x = torch::randn({8, 8});
  const auto y = torch::randn({8, 1});
  const int64_t begin = r == 0 ? 0 : 3, n = r == 0 ? 3 : 5;
  auto h = torch::tanh(model->trunk(x.narrow(0, begin, n)));
  auto target = y.narrow(0, begin, n);
  auto loss = (model->head_a(h) - target).pow(2).mean();
  if (r == 0) loss = loss + (model->head_b(h) - target).pow(2).mean();
  reducer.prepare(n);
  loss.backward();
  const bool b_had_grad = model->head_b->weight.grad().defined();
  reducer.finish(8);
  std::vector<torch::Tensor> saved{torch::tensor({b_had_grad ? 1 : 0})};
  for (const auto& p : model->parameters()) saved.push_back(p.grad().clone());
  torch::save(saved, env.file("unused"));

  // A wrong global count is caught: the ranks' counts (3 + 5) travel with the gradients.
  reducer.prepare(n);
  std::string mismatch = "no error";
  try {
    reducer.finish(9);
  } catch (const Error& e) {
    mismatch = e.what();
  }
  EXPECT_THAT(mismatch, ::testing::HasSubstr("finish(9) but the ranks' prepare() sample counts "
                                             "add up to 8"));
}

TEST(DistributedWorker, PeerExits) {
  MMFUSE_WORKER_ONLY(env);
  auto options = env.options;
  options.timeout = std::chrono::seconds(10);
  Communicator comm(options);
  comm.barrier();
  if (comm.rank() == 1) std::_Exit(0);  // dies without a word, as a crashed rank would
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  std::string message = "no error";
  const auto start = std::chrono::steady_clock::now();
  try {
    std::vector<torch::Tensor> t{torch::ones({1000})};
    comm.allreduce_sum(t);
  } catch (const Error& e) {
    message = e.what();
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::ofstream(env.dir + "/peer_exits.txt") << seconds << "\n" << message;
}

}  // namespace
}  // namespace mmfuse::train
