// Sampled-frame decoding with the video reader (data/video/video_reader.h): K frames at `fps`
// (0: spread uniformly) from each clip, as RGB, one clip at a time on one thread. Prints one JSON
// line. bench/video_decode.sh compares it with the ffmpeg CLI extracting the same frames.
//
//   build/bench/bench_video_decode --frames 8 [--fps 8] [--repeat 3] [--no-skip] CLIP...
// --no-skip decodes every frame on the way (VideoReader::set_frame_skipping(false)), for A/B.
#include <chrono>
#include <ctime>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mmfuse/data/video/video_reader.h"

int main(int argc, char** argv) {
  int frames = 8, repeat = 1;
  bool skip = true;
  double fps = 0;
  std::vector<std::string> clips;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--frames" && i + 1 < argc) {
      frames = std::stoi(argv[++i]);
    } else if (a == "--fps" && i + 1 < argc) {
      fps = std::stod(argv[++i]);
    } else if (a == "--no-skip") {
      skip = false;
    } else if (a == "--repeat" && i + 1 < argc) {
      repeat = std::stoi(argv[++i]);
    } else {
      clips.push_back(a);
    }
  }
  if (clips.empty() || frames < 1 || repeat < 1) {
    std::cerr
        << "usage: bench_video_decode --frames K [--fps F] [--repeat N] [--no-skip] CLIP...\n";
    return 2;
  }
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  const std::clock_t c0 = std::clock();  // process CPU time: comparable on a loaded machine
  int64_t decoded = 0, returned = 0, bytes = 0;
  for (int r = 0; r < repeat; ++r) {
    for (const auto& clip : clips) {
      mmfuse::data::video::VideoReader reader(clip);
      reader.set_frame_skipping(skip);
      const auto out = reader.read_frames(mmfuse::data::video::FrameSampling{frames, fps, 0.0});
      returned += static_cast<int64_t>(out.size());
      decoded += reader.frames_decoded();
      for (const auto& f : out) bytes += static_cast<int64_t>(f.rgb.total() * f.rgb.elemSize());
    }
  }
  const double s = std::chrono::duration<double>(Clock::now() - t0).count();
  const double cpu = static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
  const double n = static_cast<double>(clips.size()) * repeat;
  std::cout << nlohmann::json{{"tool", "mmfuse_reader"},
                              {"frame_skipping", skip},
                              {"clips", n},
                              {"frames", returned},
                              {"frames_decoded", decoded},
                              {"rgb_bytes", bytes},
                              {"seconds", s},
                              {"clips_per_s", n / s},
                              {"frames_per_s", returned / s},
                              {"cpu_seconds", cpu},
                              {"cpu_s_per_clip", cpu / n}}
                   .dump()
            << "\n";
  return 0;
}
