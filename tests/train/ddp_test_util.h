// Multi-process tests of the data-parallel primitives: the parent test starts this same test
// binary once per rank, filtered to one DistributedWorker.* test, with torchrun's environment
// variables; the workers write what they computed into a temp folder and the parent checks it.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <torch/torch.h>

#include "mmfuse/train/distributed.h"
#include "mmfuse/train/gradient_reducer.h"

extern char** environ;

namespace mmfuse::testing {

/// trunk -> head_a and head_b, seeded: the model of the unused-parameter test, built the same way
/// by the worker ranks and by the one-process reference.
struct TwoHeads : torch::nn::Module {
  TwoHeads() {
    torch::manual_seed(5);
    trunk = register_module("trunk", torch::nn::Linear(8, 8));
    head_a = register_module("head_a", torch::nn::Linear(8, 1));
    head_b = register_module("head_b", torch::nn::Linear(8, 1));
  }
  torch::nn::Linear trunk{nullptr}, head_a{nullptr}, head_b{nullptr};
};

/// A TCP port on 127.0.0.1 that was free a moment ago (the kernel's ephemeral choice).
inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

/// torchrun's --standalone rendezvous (c10d, a fresh job id) on a free port instead of the fixed
/// 29400 that torchrun 1.13 gives it, so that launches running at once do not collide.
inline std::vector<std::string> c10d_rendezvous_args() {
  static int job = 0;
  return {"--rdzv_backend=c10d", "--rdzv_endpoint=127.0.0.1:" + std::to_string(free_port()),
          "--rdzv_id=test-" + std::to_string(::getpid()) + "-" + std::to_string(job++)};
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// This test binary's path.
inline std::string self_exe() {
  return std::filesystem::read_symlink("/proc/self/exe").string();
}

/// What DistributedWorker.<test> needs to run as rank `rank` of `world` (torchrun's variables).
inline std::map<std::string, std::string> rank_env(int rank, int world, int port,
                                                   const std::string& dir) {
  return {{"RANK", std::to_string(rank)},        {"LOCAL_RANK", std::to_string(rank)},
          {"WORLD_SIZE", std::to_string(world)}, {"MASTER_ADDR", "127.0.0.1"},
          {"MASTER_PORT", std::to_string(port)}, {"MMFUSE_DDP_TEST_DIR", dir}};
}

/// The processes of one multi-process test, each started with this environment plus changes,
/// GLOO_SOCKET_IFNAME=lo and OMP_NUM_THREADS=1, its output in dir/rank<i>.log. Those still running
/// at destruction are killed (SIGKILL) and reaped, so that a failing test leaves none behind.
class WorkerProcesses {
 public:
  explicit WorkerProcesses(std::string dir) : dir_(std::move(dir)) {}
  /// `world` ranks of this binary running DistributedWorker.<test>, on 127.0.0.1:`port`.
  WorkerProcesses(const std::string& test, int world, int port, const std::string& dir)
      : dir_(dir) {
    for (int r = 0; r < world; ++r) {
      start({self_exe(), "--gtest_filter=DistributedWorker." + test},
            rank_env(r, world, port, dir));
    }
  }

  /// Starts `argv` with the environment changed by `env` (an empty value removes a variable).
  void start(std::vector<std::string> argv, const std::map<std::string, std::string>& changes) {
    std::map<std::string, std::string> env;
    for (char** e = environ; *e; ++e) {
      std::string kv(*e);
      const auto eq = kv.find('=');
      if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    for (const char* name : {"RANK", "LOCAL_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT",
                             "TORCHELASTIC_USE_AGENT_STORE", "TORCHELASTIC_RESTART_COUNT"}) {
      env.erase(name);
    }
    env["GLOO_SOCKET_IFNAME"] = "lo";
    env["OMP_NUM_THREADS"] = "1";
    for (const auto& [k, v] : changes) {
      if (v.empty()) {
        env.erase(k);
      } else {
        env[k] = v;
      }
    }
    std::vector<std::string> env_strings;
    for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::vector<char*> args;
    for (auto& a : argv) args.push_back(a.data());
    args.push_back(nullptr);

    const std::string log = log_path(static_cast<int>(pids_.size()));
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) throw std::runtime_error("posix_spawn failed for " + argv[0]);
    pids_.push_back(pid);
    status_.push_back(std::nullopt);
  }
  ~WorkerProcesses() { kill_all(); }
  WorkerProcesses(const WorkerProcesses&) = delete;
  WorkerProcesses& operator=(const WorkerProcesses&) = delete;

  /// Waits for every rank to exit, at most `timeout`; returns true when all exited with code 0.
  /// Ranks still running at the timeout are killed.
  bool wait(std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (true) {
      bool running = false;
      for (std::size_t r = 0; r < pids_.size(); ++r) {
        if (status_[r]) continue;
        int st = 0;
        if (::waitpid(pids_[r], &st, WNOHANG) == pids_[r]) {
          status_[r] = st;
        } else {
          running = true;
        }
      }
      if (!running) break;
      if (std::chrono::steady_clock::now() > deadline) {
        kill_all();
        return false;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    for (const auto& st : status_) {
      if (!st || !WIFEXITED(*st) || WEXITSTATUS(*st) != 0) return false;
    }
    return true;
  }

  std::string log_path(int i) const { return dir_ + "/rank" + std::to_string(i) + ".log"; }
  /// Every rank's exit status and output, for failure messages.
  std::string report() const {
    std::string out;
    for (std::size_t r = 0; r < pids_.size(); ++r) {
      std::string st = "still running (killed)";
      if (status_[r] && WIFEXITED(*status_[r])) {
        st = "exit code " + std::to_string(WEXITSTATUS(*status_[r]));
      } else if (status_[r] && WIFSIGNALED(*status_[r])) {
        st = "killed by signal " + std::to_string(WTERMSIG(*status_[r]));
      }
      out += "--- process " + std::to_string(r) + ": " + st + "\n" +
             read_text(log_path(static_cast<int>(r)));
    }
    return out;
  }

 private:
  void kill_all() {
    for (std::size_t r = 0; r < pids_.size(); ++r) {
      if (status_[r]) continue;
      ::kill(pids_[r], SIGKILL);
      int st = 0;
      ::waitpid(pids_[r], &st, 0);
      status_[r] = st;
    }
  }

  std::string dir_;
  std::vector<pid_t> pids_;
  std::vector<std::optional<int>> status_;
};

/// In a worker process: torchrun's options and the output folder; nullopt in a normal test run.
struct WorkerEnv {
  train::DistributedOptions options;
  std::string dir;
  std::string file(const std::string& name) const {
    return dir + "/" + name + "_rank" + std::to_string(options.rank) + ".pt";
  }
};

inline std::optional<WorkerEnv> worker_env() {
  const char* dir = std::getenv("MMFUSE_DDP_TEST_DIR");
  if (dir == nullptr || std::getenv("RANK") == nullptr) return std::nullopt;
  WorkerEnv env{train::DistributedOptions::from_environment(), dir};
  env.options.timeout = std::chrono::seconds(60);
  return env;
}

// ---- What the workers and the single-process reference both compute -------------------------

/// A small MLP (no batch norm), initialised from `seed`: 16 -> 32 -> 32 -> 4, 2276 parameters.
inline torch::nn::Sequential make_mlp(uint64_t seed) {
  torch::manual_seed(seed);
  return torch::nn::Sequential(torch::nn::Linear(16, 32), torch::nn::Tanh(),
                               torch::nn::Linear(32, 32), torch::nn::Tanh(),
                               torch::nn::Linear(32, 4));
}

/// Global batch sizes of one epoch over 31 samples; per-rank batch 4 on 2 ranks splits them
/// 4 + 4, 4 + 3, 3 + 0, 4 + 4, 4 + 1.
inline const std::vector<int64_t>& global_batches() {
  static const std::vector<int64_t> sizes{8, 7, 3, 8, 5};
  return sizes;
}

/// Trains `model` for 2 epochs of global_batches() with SGD (momentum), each rank on its slice
/// [rank * per_rank, (rank + 1) * per_rank) of each global batch; `reducer` averages.
inline void train_mlp(torch::nn::Sequential& model, train::GradientReducer* reducer, int rank,
                      int64_t per_rank) {
  torch::manual_seed(7);
  const auto x = torch::randn({31, 16});
  const auto y = torch::randn({31, 4});
  torch::optim::SGD opt(model->parameters(), torch::optim::SGDOptions(0.05).momentum(0.9));
  for (int epoch = 0; epoch < 2; ++epoch) {
    int64_t start = 0;
    for (int64_t size : global_batches()) {
      const int64_t begin = std::min(start + rank * per_rank, start + size);
      const int64_t end = std::min(begin + per_rank, start + size);
      const int64_t n = end - begin;
      opt.zero_grad();
      if (reducer) reducer->prepare(n);
      if (n > 0) {
        auto out = model->forward(x.narrow(0, begin, n));
        torch::mse_loss(out, y.narrow(0, begin, n)).backward();
      }
      if (reducer) reducer->finish(size);
      opt.step();
      start += size;
    }
  }
}

}  // namespace mmfuse::testing
