// Helpers shared by the tests: prerequisites (skip, or fail in strict mode, when one is missing),
// temp folders, running commands and the mmfuse binary.
#pragma once

#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace mmfuse::testing {

// ------------------------------------------------------------------------------ prerequisites
// A test that needs something `make test` installs (../shared, the Python peers' packages,
// Chromium, espeak-ng, WordNet) checks it with MMFUSE_REQUIRE(missing_x()). Outside CI a missing
// prerequisite is a skip that says what is missing and how to install it; with
// MMFUSE_STRICT_TESTS=1 (set by .ci/run) it is a failure, so a broken CI machine cannot pass by
// skipping.

/// Whether MMFUSE_STRICT_TESTS=1: a missing prerequisite fails the test instead of skipping it.
inline bool strict_tests() {
  const char* v = std::getenv("MMFUSE_STRICT_TESTS");
  return v != nullptr && std::string(v) == "1";
}

/// Skips the current test saying what is missing, or fails it in strict mode. Only in a function
/// returning void (a test body, SetUp).
#define MMFUSE_SKIP_OR_FAIL(what)                                           \
  do {                                                                      \
    if (::mmfuse::testing::strict_tests())                                  \
      FAIL() << "missing prerequisite (MMFUSE_STRICT_TESTS=1): " << (what); \
    else                                                                    \
      GTEST_SKIP() << "missing prerequisite: " << (what)                    \
                   << " (with MMFUSE_STRICT_TESTS=1 this is a failure)";    \
  } while (0)

/// MMFUSE_REQUIRE(missing_chromium()): skips or fails (strict mode) when `missing` is not empty.
#define MMFUSE_REQUIRE(missing)                                         \
  do {                                                                  \
    const std::string mmfuse_missing_ = (missing);                      \
    if (!mmfuse_missing_.empty()) MMFUSE_SKIP_OR_FAIL(mmfuse_missing_); \
  } while (0)

/// ../shared (or MMFUSE_SHARED_DIR); empty when it is absent.
inline std::string shared_dir() {
  std::filesystem::path p(MMFUSE_SHARED_DIR);
  return std::filesystem::is_directory(p / "data") ? p.lexically_normal().string() : std::string();
}

/// "" when ../shared is there, else what is missing.
inline std::string missing_shared() {
  return shared_dir().empty() ? std::string("../shared is absent (") + MMFUSE_SHARED_DIR + ")"
                              : std::string();
}

#define MMFUSE_REQUIRE_SHARED() MMFUSE_REQUIRE(::mmfuse::testing::missing_shared())

/// "" when `path` exists, else "`path` is missing (apt-get install `package`)".
inline std::string missing_file(const std::string& path, const std::string& package) {
  return std::filesystem::exists(path) ? std::string()
                                       : path + " is missing (apt-get install " + package + ")";
}

inline constexpr const char* kChromium = "/usr/bin/chromium";

inline std::string missing_chromium() {
  return std::filesystem::exists(kChromium)
             ? std::string()
             : std::string("Chromium is not installed (") + kChromium +
                   " is missing; apt-get install chromium)";
}

inline std::string missing_wordnet() {
  return missing_file("/usr/share/wordnet/index.noun", "wordnet-base");
}

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

/// "" when espeak-ng runs (`espeak-ng --version`), else what is missing.
inline std::string missing_espeak() {
  static const std::string missing = [] {
    auto r = run_command("espeak-ng --version");
    return r.exit_code == 0 ? std::string()
                            : "espeak-ng does not run (apt-get install espeak-ng): " + r.output;
  }();
  return missing;
}

/// "" when /usr/bin/python3 imports every module of `modules` (e.g. {"torch", "numpy"}), else which
/// one fails, its error and the Debian package that provides it. Probed once per module.
inline std::string missing_python(const std::vector<std::string>& modules) {
  static std::map<std::string, std::string> probed;  // module -> "" or why it fails
  static const std::map<std::string, std::string> packages = {
      {"torch", "python3-torch"},     {"numpy", "python3-numpy"},
      {"scipy", "python3-scipy"},     {"PIL", "python3-pil"},
      {"sklearn", "python3-sklearn"}, {"torchvision", "python3-torchvision"}};
  if (!std::filesystem::exists("/usr/bin/python3")) {
    return "/usr/bin/python3 is missing (apt-get install python3)";
  }
  for (const auto& m : modules) {
    auto it = probed.find(m);
    if (it == probed.end()) {
      auto r = run_command("/usr/bin/python3 -c 'import " + m + "'");
      std::string why;
      if (r.exit_code != 0) {
        auto p = packages.find(m);
        std::string last = r.output;
        while (!last.empty() && last.back() == '\n') last.pop_back();
        last = last.substr(last.rfind('\n') == std::string::npos ? 0 : last.rfind('\n') + 1);
        why = "/usr/bin/python3 cannot import " + m + " (apt-get install " +
              (p == packages.end() ? "python3-" + m : p->second) + "): " + last;
      }
      it = probed.emplace(m, why).first;
    }
    if (!it->second.empty()) return it->second;
  }
  return {};
}

/// What the Python peers need: ../shared/peers and /usr/bin/python3 with torch and numpy.
inline std::string missing_peers() {
  std::string m = missing_shared();
  return m.empty() ? missing_python({"torch", "numpy"}) : m;
}

/// ../shared/pretrained (the pretrained weights and reference.py); empty when absent.
inline std::string pretrained_dir() {
  const std::string shared = shared_dir();
  return shared.empty() ? std::string() : shared + "/pretrained";
}

/// What the pretrained reference (../shared/pretrained/reference.py) needs: the folder and
/// /usr/bin/python3 with torch, torchvision, numpy and scipy.
inline std::string missing_pretrained_reference() {
  std::string m = missing_shared();
  if (m.empty() && !std::filesystem::exists(pretrained_dir() + "/reference.py")) {
    m = pretrained_dir() + "/reference.py is missing (an older ../shared)";
  }
  return m.empty() ? missing_python({"torch", "torchvision", "numpy", "scipy"}) : m;
}

}  // namespace mmfuse::testing
