// Helpers shared by the tests: the shared data folder (skip when absent), temp folders, running
// the mmfuse binary.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <string>

namespace mmfuse::testing {

/// ../shared (or MMFUSE_SHARED_DIR); empty when it is absent.
inline std::string shared_dir() {
  std::filesystem::path p(MMFUSE_SHARED_DIR);
  return std::filesystem::is_directory(p / "data") ? p.lexically_normal().string() : std::string();
}

#define MMFUSE_REQUIRE_SHARED()                                            \
  do {                                                                     \
    if (::mmfuse::testing::shared_dir().empty())                           \
      GTEST_SKIP() << "../shared is absent (" << MMFUSE_SHARED_DIR << ")"; \
  } while (0)

/// A fresh folder under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir() {
    auto base = std::filesystem::temp_directory_path();
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = std::string("mmfuse-") + (info ? info->name() : "test") + "-" +
                       std::to_string(::getpid()) + "-" + std::to_string(counter()++);
    path_ = base / name;
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string str() const { return path_.string(); }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  static int& counter() {
    static int c = 0;
    return c;
  }
  std::filesystem::path path_;
};

struct CommandResult {
  int exit_code = -1;
  std::string output;  ///< stdout and stderr together
};

/// Runs a shell command (stdout and stderr together), e.g. a Python peer.
inline CommandResult run_command(const std::string& cmd) {
  CommandResult r;
  FILE* pipe = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!pipe) return r;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) r.output.append(buf, n);
  int status = ::pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

/// Runs the built mmfuse binary with `args` (a shell-quoted string).
inline CommandResult run_mmfuse(const std::string& args) {
  return run_command(std::string(MMFUSE_BINARY) + " " + args);
}

/// Whether /usr/bin/python3 can import torch (the Python peers need it).
inline bool python_torch_available() {
  static const bool ok = run_command("/usr/bin/python3 -c 'import torch, numpy'").exit_code == 0;
  return ok;
}

}  // namespace mmfuse::testing
