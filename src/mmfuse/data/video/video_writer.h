// Writing small MP4 clips with FFmpeg's libraries: frames (gray or RGB uint8) encoded as H.264
// (libx264 when this FFmpeg build has it, else MPEG-4 part 2) and an optional mono sound track
// as AAC. Used by `mmfuse data make-video`; written to a temporary file and renamed, so a clip is
// either complete or absent.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace mmfuse::data::video {

struct VideoWriterOptions {
  int width = 0, height = 0;  ///< even sizes (4:2:0 chroma)
  int fps = 20;
  /// Preferred video encoder; when this FFmpeg has none of that name, "mpeg4" is used.
  std::string video_encoder = "libx264";
  int crf = 20;        ///< libx264 quality (lower is better)
  int audio_rate = 0;  ///< Hz of the sound track; 0: no audio stream
  int audio_bitrate = 48000;
};

class VideoWriter {
 public:
  /// Opens `path` (.mp4) for writing. Throws Error when an encoder or the file cannot be opened.
  VideoWriter(std::string path, VideoWriterOptions options);
  ~VideoWriter();
  VideoWriter(const VideoWriter&) = delete;
  VideoWriter& operator=(const VideoWriter&) = delete;

  /// One frame, H x W uint8 gray (CV_8UC1) or RGB (CV_8UC3) of the configured size.
  void add_frame(const cv::Mat& image);
  /// The whole sound track, mono samples in [-1, 1] at audio_rate. Requires: audio_rate > 0.
  void set_audio(const std::vector<float>& samples);
  /// Flushes the encoders, writes the trailer and moves the file into place.
  void finish();

  /// The video encoder in use ("libx264" or "mpeg4").
  const std::string& video_encoder() const;

  /// Implementation detail (FFmpeg objects), defined in the .cpp files.
  struct State;

 private:
  std::unique_ptr<State> s_;
};

}  // namespace mmfuse::data::video
