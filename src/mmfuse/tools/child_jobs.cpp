#include "mmfuse/tools/child_jobs.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>

#include "mmfuse/core/error.h"

extern char** environ;

namespace mmfuse::tools {

namespace {

// The last non-empty line of a log ("" when there is none).
std::string last_log_line(const std::string& path) {
  std::ifstream in(path);
  std::string line, last;
  while (std::getline(in, line)) {
    if (line.find_first_not_of(" \t\r") != std::string::npos) last = line;
  }
  return last;
}

pid_t spawn_child(const ChildJob& job) {
  std::vector<std::string> argv = {"/proc/self/exe"};
  argv.insert(argv.end(), job.args.begin(), job.args.end());
  std::vector<char*> cargv;
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, job.log.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, "/proc/self/exe", &actions, nullptr, cargv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw Error("cannot start " + job.name + ": " + std::strerror(rc));
  return pid;
}

std::string how_it_ended(int status) {
  if (WIFEXITED(status)) return "exit code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "status " + std::to_string(status);
}

}  // namespace

std::vector<std::string> run_child_jobs(const std::vector<ChildJob>& jobs, int parallel) {
  parallel = std::max(1, parallel);
  std::map<pid_t, const ChildJob*> running;
  std::vector<std::string> failed;
  std::size_t next = 0;
  while (next < jobs.size() || !running.empty()) {
    while (next < jobs.size() && static_cast<int>(running.size()) < parallel) {
      const ChildJob& job = jobs[next++];
      spdlog::info("{}: started (log {})", job.name, job.log);
      running[spawn_child(job)] = &job;
    }
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) continue;
      throw Error(std::string("waiting for the child processes: ") + std::strerror(errno));
    }
    auto it = running.find(pid);
    if (it == running.end()) continue;  // not one of ours
    const ChildJob& job = *it->second;
    running.erase(it);
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
      spdlog::info("{}: done", job.name);
    } else {
      failed.push_back(job.name + " failed (" + how_it_ended(status) +
                       "): " + last_log_line(job.log) + " [log: " + job.log + "]");
    }
  }
  return failed;
}

}  // namespace mmfuse::tools
