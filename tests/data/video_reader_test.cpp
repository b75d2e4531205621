// The FFmpeg video reader on real Debian sample videos (opencv-doc, python3-imageio) and on small
// clips made with the ffmpeg CLI: stream info, sampled frame times, seeking, RGB order, the
// audio track's rate and length, subtitles, and errors for broken files.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "data/video_test_util.h"
#include "mmfuse/core/error.h"
#include "mmfuse/data/video/subtitles.h"
#include "mmfuse/data/video/video_reader.h"

namespace mmfuse::data::video {
namespace {

using mmfuse::testing::TempDir;

// Zero crossings per second over the middle 80% of a waveform (the codec's edges aside): 2 *
// frequency for a sine.
double video_test_crossing_rate(const audio::Waveform& w) {
  const std::size_t from = w.samples.size() / 10, to = w.samples.size() - from;
  int crossings = 0;
  for (std::size_t i = from + 1; i < to; ++i) {
    if ((w.samples[i - 1] < 0) != (w.samples[i] < 0)) ++crossings;
  }
  return crossings * static_cast<double>(w.sample_rate) / static_cast<double>(to - from);
}

TEST(VideoReader, CockatooMp4InfoSampledFramesAndAudio) {
  MMFUSE_REQUIRE(mmfuse::testing::missing_file(mmfuse::testing::kCockatooMp4, "python3-imageio"));
  VideoReader r(mmfuse::testing::kCockatooMp4);
  const VideoInfo& info = r.info();
  EXPECT_EQ(info.video_codec, "h264");
  EXPECT_EQ(info.width, 1280);
  EXPECT_EQ(info.height, 720);
  EXPECT_DOUBLE_EQ(info.fps, 20.0);
  EXPECT_NEAR(info.duration_s, 14.0, 1e-6);
  EXPECT_EQ(info.frame_count, 280);
  EXPECT_EQ(info.audio_rate, 16000);
  EXPECT_EQ(info.audio_channels, 1);

  // 4 uniform frames: the centres of 4 spans of 3.5 s, on the 0.05 s frame grid.
  const auto times = r.sample_times({4, 0.0, 0.0});
  ASSERT_EQ(times.size(), 4u);
  EXPECT_DOUBLE_EQ(times[0], 1.75);
  EXPECT_DOUBLE_EQ(times[3], 12.25);
  const auto frames = r.read_frames_at(times);
  ASSERT_EQ(frames.size(), 4u);
  for (std::size_t i = 0; i < frames.size(); ++i) {
    EXPECT_NEAR(frames[i].time_s, times[i], 1e-6) << i;
    EXPECT_EQ(frames[i].rgb.rows, 720);
    EXPECT_EQ(frames[i].rgb.cols, 1280);
    EXPECT_EQ(frames[i].rgb.type(), CV_8UC3);
  }
  // Keyframes at 0, 3.8 and 7.25 s: decode 0..1.8 (37 frames, the last one the lookahead past
  // 1.75), seek to 3.8 and decode to 5.3 (31), seek to 7.25 and decode to 8.8 (32), then go on
  // to 12.3 without seeking (70, no keyframe in between): 170 of 280, less the 19 non-reference
  // B-frames that lie more than 5 frames before a sampled time and are skipped: 151.
  EXPECT_EQ(r.frames_decoded(), 151);

  // The MP3 track: 13.898 s at 16 kHz, and half as many samples at 8 kHz.
  const audio::Waveform native = r.read_audio();
  EXPECT_EQ(native.sample_rate, 16000);
  EXPECT_NEAR(static_cast<double>(native.samples.size()) / 16000.0, 13.898, 0.08);
  const audio::Waveform half = r.read_audio(8000);
  EXPECT_EQ(half.sample_rate, 8000);
  EXPECT_NEAR(static_cast<double>(half.samples.size()), native.samples.size() / 2.0, 64);
  // Frames still read after the audio pass (the reader seeks back).
  EXPECT_NEAR(r.read_frames_at({2.0})[0].time_s, 2.0, 1e-6);
}

TEST(VideoReader, SkippingNonReferenceFramesReturnsTheSamePixels) {
  MMFUSE_REQUIRE(mmfuse::testing::missing_file(mmfuse::testing::kCockatooMp4, "python3-imageio"));
  // 12.25 s lies 5 s after the last keyframe (7.25 s): the B-frames on the way need not be decoded.
  const std::vector<double> times = {1.75, 9.0, 12.25};
  VideoReader skipping(mmfuse::testing::kCockatooMp4);
  VideoReader every(mmfuse::testing::kCockatooMp4);
  every.set_frame_skipping(false);
  const auto a = skipping.read_frames_at(times);
  const auto b = every.read_frames_at(times);
  ASSERT_EQ(a.size(), times.size());
  ASSERT_EQ(b.size(), times.size());
  for (std::size_t i = 0; i < times.size(); ++i) {
    EXPECT_NEAR(a[i].time_s, times[i], 1e-6) << i;
    EXPECT_DOUBLE_EQ(a[i].time_s, b[i].time_s) << i;
    EXPECT_EQ(cv::norm(a[i].rgb, b[i].rgb, cv::NORM_INF), 0.0) << i;
  }
  EXPECT_LT(skipping.frames_decoded(), every.frames_decoded());
}

TEST(VideoReader, RealshortMp4EveryFrameInOrderAndAudioRate) {
  MMFUSE_REQUIRE(mmfuse::testing::missing_file(mmfuse::testing::kRealshortMp4, "python3-imageio"));
  VideoReader r(mmfuse::testing::kRealshortMp4);
  EXPECT_EQ(r.info().width, 320);
  EXPECT_EQ(r.info().height, 240);
  EXPECT_EQ(r.info().audio_rate, 48000);
  const auto all = r.read_all_frames();
  ASSERT_EQ(all.size(), 36u);
  const double step = 1499.0 / 45000.0;  // r_frame_rate 45000/1499
  for (std::size_t i = 0; i < all.size(); ++i) EXPECT_NEAR(all[i].time_s, i * step, 1e-4) << i;
  // A sampled read returns the very frame shown at that time.
  VideoReader again(mmfuse::testing::kRealshortMp4);
  const auto one = again.read_frames_at({10.5 * step});
  ASSERT_EQ(one.size(), 1u);
  EXPECT_NEAR(one[0].time_s, 10 * step, 1e-4);
  EXPECT_EQ(cv::norm(one[0].rgb, all[10].rgb, cv::NORM_INF), 0.0);
  const audio::Waveform w = r.read_audio(16000);
  EXPECT_EQ(w.sample_rate, 16000);
  EXPECT_NEAR(static_cast<double>(w.samples.size()) / 16000.0, 1.1733, 0.03);
}

TEST(VideoReader, VtestAviSeeksInsteadOfDecodingEverything) {
  MMFUSE_REQUIRE(mmfuse::testing::missing_file(mmfuse::testing::kVtestAvi, "opencv-doc"));
  VideoReader r(mmfuse::testing::kVtestAvi);
  EXPECT_EQ(r.info().video_codec, "msmpeg4v3");
  EXPECT_EQ(r.info().width, 768);
  EXPECT_EQ(r.info().height, 576);
  EXPECT_DOUBLE_EQ(r.info().fps, 10.0);
  EXPECT_EQ(r.info().frame_count, 795);
  EXPECT_EQ(r.info().audio_stream, -1);
  const auto frames = r.read_frames_at({10.0, 40.0, 70.0});
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_NEAR(frames[0].time_s, 10.0, 1e-6);
  EXPECT_NEAR(frames[1].time_s, 40.0, 1e-6);
  EXPECT_NEAR(frames[2].time_s, 70.0, 1e-6);
  // Keyframes every 25 s: decode 0..10.1 s (102 frames), seek to 25 and decode to 40.1 (152),
  // seek to 50 and decode to 70.1 (202): 456 instead of the 702 of decoding on from the start.
  EXPECT_EQ(r.frames_decoded(), 456);
  // Different times show different pictures.
  EXPECT_GT(cv::norm(frames[0].rgb, frames[2].rgb, cv::NORM_L1), 0.0);
  EXPECT_THROW(r.read_audio(), InputError);
}

TEST(VideoReader, GeneratedClipFramesAudioAndEmbeddedSubtitles) {
  MMFUSE_REQUIRE(mmfuse::testing::missing_ffmpeg());
  TempDir dir;
  const std::string clip = mmfuse::testing::clip_with_subtitles(dir, "clip");
  VideoReader r(clip);
  EXPECT_EQ(r.info().width, 64);
  EXPECT_EQ(r.info().height, 48);
  EXPECT_DOUBLE_EQ(r.info().fps, 25.0);
  EXPECT_EQ(r.info().subtitle_codec, "mov_text");
  // At 4 fps from 0: 0, 0.25, 0.5, 0.75 s, each the frame on screen then (25 fps: starting at
  // 0, 0.24, 0.48, 0.72 s).
  const auto times = r.sample_times({0, 4.0, 0.0});
  ASSERT_EQ(times.size(), 4u);
  const auto frames = r.read_frames_at(times);
  for (std::size_t i = 0; i < 4; ++i) EXPECT_NEAR(frames[i].time_s, 0.24 * i, 1e-6);
  EXPECT_EQ(r.read_all_frames().size(), 25u);
  // The 440 Hz sine: about 880 zero crossings a second whatever the output rate.
  const audio::Waveform w = r.read_audio(16000);
  EXPECT_NEAR(static_cast<double>(w.samples.size()), 16000, 1100);
  EXPECT_NEAR(video_test_crossing_rate(w), 880, 15);
  const auto cues = r.read_embedded_subtitles();
  ASSERT_EQ(cues.size(), 2u);
  EXPECT_EQ(cues[0].text, "seven apples");
  EXPECT_NEAR(cues[0].start_s, 0.1, 1e-3);
  EXPECT_NEAR(cues[0].end_s, 0.5, 1e-3);
  EXPECT_EQ(cues[1].text, "and pears");
  EXPECT_EQ(subtitle_text(cues), subtitle_text(read_subtitle_file(dir.file("clip.srt"))));
}

TEST(VideoReader, FramesAreRgbOrderAndWebmVorbisOpusDecode) {
  MMFUSE_REQUIRE(mmfuse::testing::missing_ffmpeg());
  TempDir dir;
  const std::string red = mmfuse::testing::ffmpeg_fixture(
      "-f lavfi -i color=c=red:size=32x32:rate=20:duration=0.5 -c:v mpeg4", dir.file("red.avi"));
  VideoReader r(red);
  EXPECT_EQ(r.info().video_codec, "mpeg4");
  const cv::Vec3b px = r.read_frames_at({0.2})[0].rgb.at<cv::Vec3b>(16, 16);
  EXPECT_GT(px[0], 230);  // R
  EXPECT_LT(px[1], 30);   // G
  EXPECT_LT(px[2], 30);   // B
  const std::string webm = mmfuse::testing::ffmpeg_fixture(
      "-f lavfi -i testsrc2=size=32x32:rate=10:duration=0.5 -f lavfi -i "
      "sine=frequency=300:sample_rate=48000:duration=0.5 -c:v libvpx -c:a libopus",
      dir.file("clip.webm"));
  VideoReader w(webm);
  EXPECT_EQ(w.info().video_codec, "vp8");
  EXPECT_EQ(w.info().audio_codec, "opus");
  EXPECT_EQ(w.read_all_frames().size(), 5u);
  EXPECT_NEAR(video_test_crossing_rate(w.read_audio(16000)), 600, 20);
}

TEST(VideoReader, BrokenFilesFailNamingFileAndStream) {
  MMFUSE_REQUIRE(mmfuse::testing::missing_ffmpeg());
  TempDir dir;
  const std::string clip = mmfuse::testing::clip_with_subtitles(dir, "clip");
  const std::string bytes = read_file(clip);
  const auto expect_error = [](const std::string& path, const std::string& part) {
    try {
      VideoReader r(path);
      r.read_frames_at(r.sample_times({8, 0.0, 0.0}));
      ADD_FAILURE() << path << ": no error";
    } catch (const InputError& e) {
      EXPECT_EQ(e.file(), path);
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
    }
  };
  // moov first, media data cut at 40%: the frames end early.
  write_file_atomic(dir.file("cut.mp4"), bytes.substr(0, bytes.size() * 2 / 5));
  expect_error(dir.file("cut.mp4"), "stream 0 (h264)");
  // moov last, cut: the container index is gone.
  const std::string late = mmfuse::testing::clip_with_subtitles(dir, "late", false);
  const std::string late_bytes = read_file(late);
  write_file_atomic(dir.file("late_cut.mp4"), late_bytes.substr(0, late_bytes.size() / 2));
  expect_error(dir.file("late_cut.mp4"), "cannot open the video");
  write_file_atomic(dir.file("noise.mp4"), std::string(4096, '\x5a'));
  expect_error(dir.file("noise.mp4"), "cannot open the video");
  expect_error(dir.file("missing.mp4"), "cannot open the video");
  const std::string sound = mmfuse::testing::ffmpeg_fixture(
      "-f lavfi -i sine=frequency=440:duration=0.3 -c:a aac", dir.file("sound.mp4"));
  expect_error(sound, "no video stream (streams: 0 audio (aac))");
  // An AVI whose video fourcc no decoder knows (MPEG-4 part 2 relabelled 'ZZZZ').
  const std::string avi = read_file(mmfuse::testing::ffmpeg_fixture(
      "-f lavfi -i testsrc=size=32x32:rate=10:duration=0.5 -c:v mpeg4 -f avi", dir.file("m4.avi")));
  std::string relabelled = avi;
  for (const char* tag : {"FMP4", "fmp4"}) {
    for (auto at = relabelled.find(tag); at != std::string::npos; at = relabelled.find(tag, at))
      relabelled.replace(at, 4, "ZZZZ");
  }
  ASSERT_NE(relabelled, avi);
  write_file_atomic(dir.file("unknown_codec.avi"), relabelled);
  expect_error(dir.file("unknown_codec.avi"), "unsupported codec in video stream 0");
}

TEST(Subtitles, SrtAndVttParseWithMarkupStripped) {
  const auto srt = parse_subtitles(mmfuse::testing::kClipSrt, "a.srt");
  ASSERT_EQ(srt.size(), 2u);
  EXPECT_EQ(srt[1].text, "and pears");
  EXPECT_DOUBLE_EQ(srt[1].start_s, 0.6);
  const auto vtt = parse_subtitles(
      "WEBVTT\n\nNOTE a comment\n\n00:01.500 --> 00:02.000 align:start\n<b>one</b>\ntwo\n\n"
      "cue-2\n01:00:00.000 --> 01:00:01.250\nthree\\Nfour\n",
      "a.vtt");
  ASSERT_EQ(vtt.size(), 2u);
  EXPECT_EQ(vtt[0].text, "one two");
  EXPECT_DOUBLE_EQ(vtt[0].start_s, 1.5);
  EXPECT_DOUBLE_EQ(vtt[1].end_s, 3601.25);
  EXPECT_EQ(vtt[1].text, "three four");
  try {
    parse_subtitles("1\n00:00:01 --> 00:00:02\nx\n", "bad.srt");
    FAIL() << "no error";
  } catch (const InputError& e) {
    EXPECT_EQ(e.file(), "bad.srt");
    EXPECT_NE(std::string(e.what()).find("line 2"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace mmfuse::data::video
