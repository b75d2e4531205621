// Shared by the fuzz targets: a scratch file for readers that take a path. Each target is one
// LLVMFuzzerTestOneInput; the contract it checks is "any bytes -> a result or an mmfuse::Error,
// never a crash, a leak, undefined behaviour or another exception type".
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <string_view>

namespace mmfuse::fuzz {

/// A folder private to this process (under /dev/shm when present), created on first use.
inline const std::string& scratch_dir() {
  static const std::string dir = [] {
    std::string base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
    std::string d = base + "/mmfuse-fuzz-" + std::to_string(::getpid());
    std::string cmd = "mkdir -p " + d;
    if (std::system(cmd.c_str()) != 0) std::abort();
    return d;
  }();
  return dir;
}

/// Writes `bytes` to `<scratch_dir>/name` and returns the path.
inline std::string scratch_file(const std::string& name, std::string_view bytes) {
  std::string path = scratch_dir() + "/" + name;
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(bytes.data(), bytes.size());
  return path;
}

}  // namespace mmfuse::fuzz
