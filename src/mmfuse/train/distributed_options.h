// Where a data-parallel process stands in its job: rank, world size and the rendezvous address,
// as torchrun hands them to every worker in environment variables.
//
//   // at the edge (the CLI), never inside the library:
//   auto options = DistributedOptions::from_environment();
//   auto comm = std::make_shared<Communicator>(options);
//
// torchrun's launch contract (PyTorch 1.13, torch/distributed/elastic/agent/server/
// local_elastic_agent.py) sets, for each worker: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR,
// MASTER_PORT, TORCHELASTIC_RESTART_COUNT and TORCHELASTIC_USE_AGENT_STORE ("True" with the
// default static rendezvous, where torchrun's agent already hosts the store on MASTER_PORT;
// "False" with --rdzv_backend=c10d / --standalone, where rank 0 must host it). A C++ binary runs
// under it with `torchrun --no_python --nproc_per_node=2 ./mmfuse ...`.
#pragma once

#include <chrono>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

namespace mmfuse::train {

struct DistributedOptions {
  /// This process's rank in [0, world_size); rank 0 is the main process.
  int rank = 0;
  /// Number of processes; 1 means no communication at all.
  int world_size = 1;
  /// Rank on this machine (selects the GPU when training on CUDA).
  int local_rank = 0;
  /// Host of the rendezvous TCPStore (rank 0's machine, or torchrun's agent).
  std::string master_addr = "127.0.0.1";
  /// Port of the rendezvous TCPStore.
  int master_port = 29500;
  /// How many times torchrun restarted the workers (keys of the agent store are per attempt).
  int restart_count = 0;
  /// torchrun's agent hosts the store on master_addr:master_port; every rank, rank 0 too,
  /// connects as a client and uses the keys under /worker/attempt_<restart_count>.
  bool use_agent_store = false;
  /// Network interfaces Gloo binds to (GLOO_SOCKET_IFNAME, comma separated); empty: the address
  /// this host's name resolves to, else loopback (PyTorch's default device).
  std::vector<std::string> gloo_interfaces;
  /// Connecting to the store, waiting for the other ranks, and each collective give up after this
  /// (PyTorch's default process-group timeout is 30 minutes).
  std::chrono::milliseconds timeout{std::chrono::minutes(30)};

  bool distributed() const { return world_size > 1; }

  /// Throws UsageError unless 1 <= world_size, 0 <= rank < world_size, 0 <= local_rank,
  /// 0 < master_port < 65536, restart_count >= 0 and timeout > 0.
  void validate() const;

  /// Reads torchrun's variables through `getenv_fn`. WORLD_SIZE absent (or empty): a single
  /// process (the defaults). Otherwise RANK is required, and MASTER_ADDR and MASTER_PORT too when
  /// WORLD_SIZE > 1; LOCAL_RANK and TORCHELASTIC_RESTART_COUNT default to 0,
  /// TORCHELASTIC_USE_AGENT_STORE to False. A malformed or out-of-range value throws UsageError
  /// naming the variable and the value.
  static DistributedOptions from_environment(
      const std::function<const char*(const char*)>& getenv_fn = std::getenv);
};

}  // namespace mmfuse::train
