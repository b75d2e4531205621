// One tiny trained run on the built-in dataset, made once per build of mmfuse and shared by the
// runtime, eval, predict, compare and serve tests (ctest starts a process per test; the first
// makes it, the others wait on a lock and read it): 60 samples (40/10/10), image + audio + text,
// 1 epoch. Tests only read it; one that changes a run copies it first.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "mmfuse/data/default_dataset/digit_images.h"
#include "test_util.h"

namespace mmfuse::testing {

struct TinyRun {
  std::string data_dir;  ///< make-default output (dataset.yaml, *.jsonl, noise/)
  std::string config;    ///< the run config
  std::string run_dir;   ///< the trained run
  std::string error;     ///< non-empty when making it failed
};

/// The config of the tiny model over `data_yaml`.
inline std::string tiny_config_text(const std::string& data_yaml) {
  return "data: " + data_yaml +
         "\n"
         "model:\n  encoders:\n"
         "    image: {type: lenet, channels: 4, extra_blocks: 1}\n"
         "    audio: {type: lenet, channels: 4, extra_blocks: 1}\n"
         "    text: {type: embedding, dim: 8}\n"
         "  fusion: {type: concat}\n"
         "  heads: {digit: {type: linear}, value: {type: linear}}\n"
         "train:\n  epochs: 1\n  batch_size: 16\n  seed: 1\n  threads: 1\n  loader_threads: 1\n"
         "  optimizer: {type: adam, lr: 0.01}\n";
}

/// Makes the tiny dataset and trains the run under `dir` (error set when a step fails).
inline TinyRun make_tiny_run_in(const std::string& dir) {
  TinyRun run;
  run.data_dir = dir + "/data";
  run.config = dir + "/tiny.yaml";
  run.run_dir = dir + "/run";
  auto made = run_mmfuse("-q data make-default --out " + run.data_dir + " --samples 60 --seed 5");
  if (made.exit_code != 0) {
    run.error = "make-default failed: " + made.output;
    return run;
  }
  std::ofstream(run.config) << tiny_config_text(run.data_dir + "/dataset.yaml");
  auto trained = run_mmfuse("-q train --no-progress --config " + run.config + " --out " +
                            run.run_dir + " > /dev/null");
  if (trained.exit_code != 0) run.error = "train failed: " + trained.output;
  return run;
}

/// The folder the test processes share per build of mmfuse: <build>/tests/fixture-<binary time>
/// (older ones are removed by tiny_run()).
inline std::filesystem::path fixture_dir() {
  namespace fs = std::filesystem;
  const fs::path bin(MMFUSE_BINARY);
  const std::string stamp = std::to_string(fs::last_write_time(bin).time_since_epoch().count());
  return bin.parent_path() / "tests" / ("fixture-" + stamp);
}

/// Runs `make` once per fixture folder, whichever test process comes first: the others wait on
/// the lock file `name`.lock and then find the `name`.ok marker (written when make returns "").
/// Returns make's error, or "" when the fixture is there.
template <typename Make>
std::string make_fixture_once(const std::string& name, Make make) {
  namespace fs = std::filesystem;
  const fs::path dir = fixture_dir();
  fs::create_directories(dir);
  const int lock = ::open((dir / (name + ".lock")).c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
  ::flock(lock, LOCK_EX);
  std::string error;
  if (!fs::exists(dir / (name + ".ok"))) {
    error = make(dir.string());
    if (error.empty()) std::ofstream((dir / (name + ".ok")).string()) << "made\n";
  }
  ::flock(lock, LOCK_UN);
  ::close(lock);
  return error;
}

/// The tiny run, made on first use under fixture_dir() (see the top of this file). Fixture
/// folders of earlier builds are removed.
inline const TinyRun& tiny_run() {
  namespace fs = std::filesystem;
  static TinyRun run;
  static bool made = false;
  if (made) return run;
  made = true;
  const fs::path dir = fixture_dir();
  run = {(dir / "data").string(), (dir / "tiny.yaml").string(), (dir / "run").string(), ""};
  run.error = make_fixture_once("tiny", [](const std::string& d) {
    fs::remove_all(d + "/data");
    fs::remove_all(d + "/run");
    return make_tiny_run_in(d).error;
  });
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir.parent_path(), ec)) {
    const std::string name = e.path().filename().string();
    if (name.rfind("fixture-", 0) == 0 && e.path() != dir) fs::remove_all(e.path(), ec);
  }
  return run;
}

/// What `mmfuse data make-default` needs ("" when all is there): scikit-learn's digits and
/// espeak-ng. Any other failure to make the dataset is a test failure, never a skip.
inline std::string missing_default_dataset_tools() {
  std::string m =
      missing_file(::mmfuse::data::default_dataset::kSklearnDigitsCsv, "python3-sklearn");
  return m.empty() ? missing_espeak() : m;
}

#define MMFUSE_REQUIRE_TINY_RUN()                                       \
  do {                                                                  \
    MMFUSE_REQUIRE(::mmfuse::testing::missing_default_dataset_tools()); \
    ASSERT_EQ(::mmfuse::testing::tiny_run().error, "");                 \
  } while (0)

/// Runs mmfuse with stdout parsed as JSON (stderr is returned in `output` on failure).
inline nlohmann::json run_mmfuse_json(const std::string& args, int* exit_code = nullptr) {
  TempDir tmp;
  auto r = run_command("(" + std::string(MMFUSE_BINARY) + " " + args + " > " +
                       tmp.file("out.json") + ")");
  if (exit_code) *exit_code = r.exit_code;
  if (r.exit_code != 0) return {{"error", r.output}};
  std::ifstream in(tmp.file("out.json"));
  return nlohmann::json::parse(in);
}

}  // namespace mmfuse::testing
