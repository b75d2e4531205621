// Placeholder until the c10d process group lands: the launch options only.
#pragma once

#include <chrono>
#include <string>

namespace mmfuse::train {

struct DistributedOptions {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  int restart_count = 0;
};

}  // namespace mmfuse::train
