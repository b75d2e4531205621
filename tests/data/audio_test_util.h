// Helpers for the audio tests: synthesized tones, writing audio files with libsndfile, and
// running reference scripts with the system Python (numpy, scipy, torch).
#pragma once

#include <gtest/gtest.h>
#include <sndfile.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "test_util.h"

namespace mmfuse::testing {

/// amplitude * sin(2 pi freq t) for `n` samples at `rate`.
inline std::vector<float> sine(double freq, int rate, int64_t n, double amplitude = 0.5) {
  std::vector<float> x(static_cast<std::size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    x[static_cast<std::size_t>(i)] =
        static_cast<float>(amplitude * std::sin(2 * M_PI * freq * i / rate));
  }
  return x;
}

/// Writes interleaved `samples` with `channels` channels; format e.g. SF_FORMAT_WAV |
/// SF_FORMAT_PCM_16.
inline void write_audio(const std::string& path, const std::vector<float>& samples, int rate,
                        int channels = 1, int format = SF_FORMAT_WAV | SF_FORMAT_PCM_16) {
  SF_INFO info{};
  info.samplerate = rate;
  info.channels = channels;
  info.format = format;
  SNDFILE* f = sf_open(path.c_str(), SFM_WRITE, &info);
  ASSERT_NE(f, nullptr) << path << ": " << sf_strerror(nullptr);
  sf_writef_float(f, samples.data(), static_cast<sf_count_t>(samples.size() / channels));
  sf_close(f);
}

/// The system Python the references run with (MMFUSE_REQUIRE_PYTHON() checks its packages).
inline std::string system_python() {
  return "/usr/bin/python3";
}

/// Skips (fails in strict mode) unless /usr/bin/python3 imports numpy, scipy and torch.
#define MMFUSE_REQUIRE_PYTHON() \
  MMFUSE_REQUIRE(::mmfuse::testing::missing_python({"numpy", "scipy", "torch"}))

/// Writes `script` into `dir` and runs it with the system Python and `args`; returns stdout.
/// Fails the test when the script exits non-zero.
inline std::string run_python(const std::string& dir, const std::string& script,
                              const std::string& args = {}) {
  const std::string file = dir + "/ref.py";
  std::ofstream(file) << script;
  const std::string cmd = system_python() + " " + file + " " + args + " 2>&1";
  std::string out;
  FILE* pipe = ::popen(cmd.c_str(), "r");
  if (!pipe) {
    ADD_FAILURE() << "cannot run " << cmd;
    return out;
  }
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  const int status = ::pclose(pipe);
  EXPECT_EQ(status, 0) << cmd << "\n" << out;
  return out;
}

/// Whitespace-separated numbers.
inline std::vector<double> parse_numbers(const std::string& text) {
  std::istringstream in(text);
  std::vector<double> v;
  double x;
  while (in >> x) v.push_back(x);
  return v;
}

/// A raw float32 file written by numpy's tofile().
inline std::vector<float> read_f32(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<float> v(bytes.size() / sizeof(float));
  std::memcpy(v.data(), bytes.data(), v.size() * sizeof(float));
  return v;
}

}  // namespace mmfuse::testing
