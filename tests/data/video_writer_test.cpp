// Clips written with the FFmpeg video writer read back with the reader (frame count, times, size,
// pixels within codec error, the AAC track's rate and pitch), and `make-video` clips from AV-MNIST:
// manifests, subtitles and the same bytes for the same seed.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <opencv2/imgproc.hpp>

#include "data/video_test_util.h"
#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"
#include "mmfuse/data/video/make_video_dataset.h"
#include "mmfuse/data/video/video_reader.h"
#include "mmfuse/data/video/video_writer.h"

namespace mmfuse::data::video {
namespace {

using mmfuse::testing::TempDir;

// Frame i of the round-trip clip: a white 12x12 square at x = 4 + 2i on black.
cv::Mat writer_test_frame(int i) {
  cv::Mat m(48, 48, CV_8UC1, cv::Scalar(0));
  cv::rectangle(m, cv::Rect(4 + 2 * i, 18, 12, 12), cv::Scalar(255), cv::FILLED);
  return m;
}

TEST(VideoWriter, ClipRoundTripsThroughTheReader) {
  TempDir dir;
  VideoWriterOptions o;
  o.width = o.height = 48;
  o.fps = 20;
  o.audio_rate = 8000;
  const std::string path = dir.file("clip.mp4");
  std::vector<float> sine(8000);
  for (std::size_t i = 0; i < sine.size(); ++i)
    sine[i] = 0.5f * std::sin(2 * M_PI * 500 * i / 8000);
  {
    VideoWriter w(path, o);
    for (int i = 0; i < 10; ++i) w.add_frame(writer_test_frame(i));
    w.set_audio(sine);
    EXPECT_FALSE(std::filesystem::exists(path));  // only the .partial file until finish()
    w.finish();
  }
  VideoReader r(path);
  EXPECT_EQ(r.info().width, 48);
  EXPECT_EQ(r.info().video_codec, "h264");  // Debian's libavcodec has libx264
  EXPECT_DOUBLE_EQ(r.info().fps, 20.0);
  const auto frames = r.read_all_frames();
  ASSERT_EQ(frames.size(), 10u);
  for (int i = 0; i < 10; ++i) {
    EXPECT_NEAR(frames[i].time_s, 0.05 * i, 1e-6);
    cv::Mat gray;
    cv::cvtColor(frames[i].rgb, gray, cv::COLOR_RGB2GRAY);
    cv::Mat diff;
    cv::absdiff(gray, writer_test_frame(i), diff);
    EXPECT_LT(cv::mean(diff)[0], 4.0) << "frame " << i;
  }
  const audio::Waveform w = r.read_audio();
  EXPECT_EQ(w.sample_rate, 8000);
  EXPECT_NEAR(static_cast<double>(w.samples.size()), 8000, 1024);  // padded to whole AAC frames
  int crossings = 0;
  for (std::size_t i = 1001; i < 7000; ++i)
    crossings += (w.samples[i - 1] < 0) != (w.samples[i] < 0);
  EXPECT_NEAR(crossings / (6000.0 / 8000), 1000, 15);  // 500 Hz: 1000 crossings a second
}

TEST(MakeVideo, AvmnistClipsManifestsSubtitlesAndSameSeedSameBytes) {
  MMFUSE_REQUIRE_SHARED();
  VideoDatasetOptions o;
  o.avmnist_dir = mmfuse::testing::shared_dir() + "/data/avmnist";
  o.limit = 5;
  o.subtitle_fraction = 0.5;
  o.seed = 3;
  TempDir a, b;
  const auto summary = make_video_dataset(a.str(), o);
  EXPECT_EQ(summary.clips, (std::array<int64_t, 3>{5, 1, 1}));
  EXPECT_EQ(summary.video_encoder, "libx264");
  o.threads = 1;  // the same bytes whatever the number of encoding threads and heap history
  make_video_dataset(b.str(), o);
  int lines = 0, subtitles = 0;
  for (const char* split : {"train", "val", "test"}) {
    std::ifstream in(a.file(std::string(split) + ".jsonl"));
    for (std::string line; std::getline(in, line);) {
      const auto j = nlohmann::json::parse(line);
      const std::string clip = j["video"].get<std::string>();
      EXPECT_EQ(clip.rfind(std::string("clips/") + split + "/" + split + "-", 0), 0u) << clip;
      EXPECT_EQ(read_file(a.file(clip)), read_file(b.file(clip))) << clip;
      VideoReader r(a.file(clip));
      EXPECT_EQ(r.info().frame_count, 20);
      EXPECT_EQ(r.info().audio_rate, 8000);
      std::filesystem::path srt(a.file(clip));
      srt.replace_extension(".srt");
      if (std::filesystem::exists(srt)) {
        static const char* kWords[] = {"zero", "one", "two",   "three", "four",
                                       "five", "six", "seven", "eight", "nine"};
        EXPECT_EQ(subtitle_text(read_subtitle_file(srt.string())), kWords[j["label"].get<int>()]);
        ++subtitles;
      }
      ++lines;
    }
  }
  EXPECT_EQ(lines, 7);
  EXPECT_EQ(subtitles, summary.with_subtitles);
}

}  // namespace
}  // namespace mmfuse::data::video
