// Reading video files with FFmpeg's libraries (MP4/MKV/WebM/AVI/MOV; H.264, VP8/9, MPEG-4,
// MJPEG...; AAC, Opus, Vorbis, MP3, PCM...): K frames sampled uniformly or at a given rate, with
// seeking so that a few frames of a long clip do not decode the whole file; the audio track as mono
// samples (optionally resampled with libswresample); embedded text subtitles.
//
// Frames come back as H x W x 3 uint8 RGB cv::Mats, the form the image pipeline converts
// (image::to_float_pixels(..., rgb_order = true)), so resizing and augmentation reuse that path.
//
// Errors are InputErrors naming the file and, for decoding, the stream: a file that cannot be
// opened (missing, corrupt, truncated header), no video stream, a codec FFmpeg cannot decode, a
// clip that ends long before the duration its container declares (truncated).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "mmfuse/data/audio/audio_io.h"
#include "mmfuse/data/video/subtitles.h"

namespace mmfuse::data::video {

/// What the container says about a file (streams are FFmpeg stream indexes, -1 when absent).
struct VideoInfo {
  std::string path;
  int video_stream = -1;
  std::string video_codec;  ///< FFmpeg codec name, e.g. "h264"
  int width = 0, height = 0;
  double fps = 0;           ///< average frame rate (frames per second)
  double duration_s = 0;    ///< of the video stream (else the container)
  int64_t frame_count = 0;  ///< declared by the container; 0 when it does not say
  int audio_stream = -1;
  std::string audio_codec;
  int audio_rate = 0, audio_channels = 0;
  int subtitle_stream = -1;
  std::string subtitle_codec;
};

/// One decoded frame: H x W x 3 uint8 RGB, shown from `time_s` (seconds from the stream start).
struct VideoFrame {
  cv::Mat rgb;
  double time_s = 0;
};

/// Which frames to take.
struct FrameSampling {
  /// K frames; with `fps` at most K (the first K at that rate; 0 = every one until the end).
  int frames = 8;
  /// 0: K frames at the centres of K equal spans of the clip; > 0: one frame every 1/fps s.
  double fps = 0;
  /// Seconds skipped at the start.
  double start_s = 0;
};

class VideoReader {
 public:
  /// Opens `path` and finds its streams. Throws InputError naming the file when it cannot be
  /// opened or has no decodable video stream.
  explicit VideoReader(const std::string& path);
  ~VideoReader();
  VideoReader(const VideoReader&) = delete;
  VideoReader& operator=(const VideoReader&) = delete;

  const VideoInfo& info() const;

  /// The times (s) `s` selects, ascending; at least one when the clip has any duration.
  std::vector<double> sample_times(const FrameSampling& s) const;

  /// The frame on screen at each time (the last one starting at or before it; the first frame
  /// for earlier times). Requires: `times` ascending. Seeks (to the keyframe before a time) when
  /// that skips decoding; otherwise decodes forward. Throws InputError naming the file and stream
  /// for corrupt data or a clip that ends well before a requested time inside its duration.
  std::vector<VideoFrame> read_frames_at(const std::vector<double>& times);
  std::vector<VideoFrame> read_frames(const FrameSampling& s) {
    return read_frames_at(sample_times(s));
  }
  /// Every frame in order (for tests and tools; decodes the whole stream).
  std::vector<VideoFrame> read_all_frames();

  /// The audio track, channels averaged to mono; resampled with libswresample to `sample_rate`
  /// Hz (0: the track's own rate). Throws InputError when there is no audio stream.
  audio::Waveform read_audio(int sample_rate = 0);

  /// The cues of the first text subtitle stream (SubRip, mov_text, WebVTT, ASS). Throws
  /// InputError when there is none or it is a bitmap format.
  std::vector<SubtitleCue> read_embedded_subtitles();

  /// Video frames decoded so far (to see that seeking skipped work).
  int64_t frames_decoded() const;

  /// Sampled reads skip non-reference frames (most B-frames) far before the next sampled time
  /// (on by default; the frames returned are the same). Off: every frame on the way is decoded.
  void set_frame_skipping(bool on);

  /// Implementation detail (FFmpeg objects), defined in the .cpp files.
  struct State;

 private:
  std::unique_ptr<State> s_;
};

/// Whether `path` ends in a video container extension (.mp4 .m4v .mkv .webm .avi .mov), case
/// insensitive.
bool has_video_extension(const std::string& path);

}  // namespace mmfuse::data::video
