// Small video fixtures made with Debian's ffmpeg CLI (scripts/install_deps.sh) and the real
// sample videos of Debian packages, for the video reader and manifest tests.
#pragma once

#include <string>

#include "mmfuse/core/fs.h"
#include "test_util.h"

namespace mmfuse::testing {

inline constexpr const char* kVtestAvi = "/usr/share/doc/opencv-doc/examples/data/vtest.avi";
inline constexpr const char* kCockatooMp4 =
    "/usr/lib/python3/dist-packages/imageio/resources/images/cockatoo.mp4";
inline constexpr const char* kRealshortMp4 =
    "/usr/lib/python3/dist-packages/imageio/resources/images/realshort.mp4";

inline std::string missing_ffmpeg() {
  return missing_file("/usr/bin/ffmpeg", "ffmpeg");
}

/// The subtitles `clip_with_subtitles` embeds (and writes beside it as `<name>.srt`).
inline constexpr const char* kClipSrt =
    "1\n00:00:00,100 --> 00:00:00,500\n<i>seven</i> apples\n\n"
    "2\n00:00:00,600 --> 00:00:00,900\nand {\\an8}pears\n";

/// 1 s of 64x48 H.264 at 25 fps (GOP 10), a 440 Hz sine at 22050 Hz as AAC, and kClipSrt as a
/// mov_text stream; moov first (faststart) unless `faststart` is false.
inline std::string clip_with_subtitles(const TempDir& dir, const std::string& name,
                                       bool faststart = true) {
  const std::string srt = dir.file(name + ".srt"), out = dir.file(name + ".mp4");
  write_file_atomic(srt, kClipSrt);
  const auto r = run_command(
      "ffmpeg -v error -y -f lavfi -i testsrc2=size=64x48:rate=25:duration=1 -f lavfi -i "
      "sine=frequency=440:sample_rate=22050:duration=1 -i '" +
      srt + "' -map 0 -map 1 -map 2 -c:v libx264 -g 10 -pix_fmt yuv420p -c:a aac -c:s mov_text " +
      (faststart ? "-movflags +faststart " : "") + "'" + out + "'");
  if (r.exit_code != 0) throw std::runtime_error("ffmpeg failed: " + r.output);
  return out;
}

/// Runs an ffmpeg command line writing `out`; throws with ffmpeg's output when it fails.
inline std::string ffmpeg_fixture(const std::string& args, const std::string& out) {
  const auto r = run_command("ffmpeg -v error -y " + args + " '" + out + "'");
  if (r.exit_code != 0) throw std::runtime_error("ffmpeg failed: " + r.output);
  return out;
}

}  // namespace mmfuse::testing
