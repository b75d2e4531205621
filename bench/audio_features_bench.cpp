// AV-MNIST spectrograms of every clip in a folder through the audio pipeline's extract(), over a
// pool of threads (each with one intra-op thread). Prints one JSON line.
//
//   build/bench/bench_audio_features [--dir ../shared/data/fsdd/recordings] [--threads 2]
//                                    [--limit N] [--repeat N] [--breakdown]
#include <torch/torch.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <ctime>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "mmfuse/core/config.h"
#include "mmfuse/data/audio/audio_pipeline.h"
#include "mmfuse/data/audio/features.h"

namespace {

using Clock = std::chrono::steady_clock;
using mmfuse::data::audio::AudioPipeline;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// CPU time of the process (all threads), or of the calling thread: on a shared machine the wall
// time depends on the other load, the CPU time much less.
double cpu_seconds(clockid_t clock = CLOCK_PROCESS_CPUTIME_ID) {
  timespec t{};
  clock_gettime(clock, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

struct Args {
  std::string dir = std::string(MMFUSE_SHARED_DIR) + "/data/fsdd/recordings";
  int threads = 1;
  std::size_t limit = 0;
  int repeat = 1;  // passes over the clips (longer runs average out other load)
  bool breakdown = false;
};

Args parse_args(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::runtime_error(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--dir") {
      a.dir = value();
    } else if (arg == "--threads") {
      a.threads = std::max(1, std::stoi(value()));
    } else if (arg == "--limit") {
      a.limit = std::stoul(value());
    } else if (arg == "--repeat") {
      a.repeat = std::max(1, std::stoi(value()));
    } else if (arg == "--breakdown") {
      a.breakdown = true;
    } else {
      throw std::runtime_error("unknown option " + arg +
                               "; usage: bench_audio_features [--dir D] [--threads N] "
                               "[--limit N] [--repeat N] [--breakdown]");
    }
  }
  return a;
}

// Runs fn(i) for i in [0, n) on `threads` threads taking indices from a shared counter.
template <class Fn>
void parallel_over(std::size_t n, int threads, Fn fn) {
  std::atomic<std::size_t> next{0};
  auto worker = [&] {
    at::set_num_threads(1);  // one intra-op thread per worker (per-thread under OpenMP)
    for (std::size_t i; (i = next.fetch_add(1)) < n;) fn(i);
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(worker);
  worker();
  for (auto& t : pool) t.join();
}

}  // namespace

int main(int argc, char** argv) try {
  const Args args = parse_args(argc, argv);
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(args.dir)) {
    if (e.path().extension() == ".wav") files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  if (args.limit > 0 && files.size() > args.limit) files.resize(args.limit);
  if (files.empty()) throw std::runtime_error("no .wav files in " + args.dir);

  auto pipeline = AudioPipeline::create({mmfuse::Modality::audio, args.dir},
                                        mmfuse::ConfigNode::parse("features: avmnist_spectrogram"));
  std::vector<double> sums(files.size());
  auto extract = [&](std::size_t i) {
    torch::Tensor f = pipeline->extract(mmfuse::data::Field(mmfuse::data::AudioRef{files[i], {}}));
    sums[i] = f.sum().item<double>();
  };
  extract(0);  // warm-up: thread pools, FFT plan, page cache of the first file

  const auto t0 = Clock::now();
  const double cpu0 = cpu_seconds();
  const std::size_t total = files.size() * static_cast<std::size_t>(args.repeat);
  parallel_over(total, args.threads, [&](std::size_t i) { extract(i % files.size()); });
  const double dt = seconds_since(t0);
  const double cpu = cpu_seconds() - cpu0;
  double checksum = 0;
  for (double s : sums) checksum += s;

  nlohmann::json out = {{"impl", "mmfuse"},
                        {"clips", total},
                        {"repeat", args.repeat},
                        {"threads", args.threads},
                        {"seconds", std::round(dt * 1000) / 1000},
                        {"clips_per_s", std::round(total / dt * 10) / 10},
                        {"cpu_us_per_clip", std::round(cpu / total * 1e7) / 10},
                        {"checksum", std::round(checksum * 1000) / 1000}};
  if (args.breakdown) {  // one thread, CPU time: decoding alone, then features of decoded clips
    std::vector<std::vector<float>> waves(files.size());
    at::set_num_threads(1);
    double t1 = cpu_seconds(CLOCK_THREAD_CPUTIME_ID);
    for (std::size_t i = 0; i < files.size(); ++i) {
      waves[i] = pipeline->load_waveform({files[i], {}});
    }
    const double read_s = cpu_seconds(CLOCK_THREAD_CPUTIME_ID) - t1;
    t1 = cpu_seconds(CLOCK_THREAD_CPUTIME_ID);
    for (auto& w : waves) {
      mmfuse::data::audio::avmnist_spectrogram(w.data(), static_cast<int64_t>(w.size()));
    }
    const double feat_s = cpu_seconds(CLOCK_THREAD_CPUTIME_ID) - t1;
    out["us_per_clip_read"] = std::round(read_s / files.size() * 1e7) / 10;
    out["us_per_clip_features"] = std::round(feat_s / files.size() * 1e7) / 10;
  }
  std::cout << out.dump() << std::endl;
  return 0;
} catch (const std::exception& e) {
  std::cerr << "bench_audio_features: " << e.what() << "\n";
  return 1;
}
