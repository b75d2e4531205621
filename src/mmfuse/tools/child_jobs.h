// Child processes of this executable, a few at a time: `mmfuse cv --jobs N` trains its folds so,
// one process each (LibTorch's thread pool, RNG and allocator are per process, so folds run side
// by side exactly as they would one after another).
#pragma once

#include <string>
#include <vector>

namespace mmfuse::tools {

struct ChildJob {
  std::string name;               ///< names the job in errors ("fold 2 of 5")
  std::vector<std::string> args;  ///< arguments after the program name
  std::string log;                ///< the child's stdout and stderr go here (truncated first)
};

/// Runs every job as `/proc/self/exe ARGS`, at most `parallel` at once, and waits for all of them
/// (a failed job does not stop the others). Returns one line per failed job: its name, how it
/// ended, its log's last line and the log's path; empty when all succeeded.
std::vector<std::string> run_child_jobs(const std::vector<ChildJob>& jobs, int parallel);

}  // namespace mmfuse::tools
