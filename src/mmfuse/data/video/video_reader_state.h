// Private to the video reader's .cpp files: the open demuxer and decoders of one VideoReader.
#pragma once

#include <string>

#include "mmfuse/data/video/av_handles.h"
#include "mmfuse/data/video/video_reader.h"

namespace mmfuse::data::video {

struct VideoReader::State {
  VideoInfo info;
  AvInputPtr fmt;
  AvCodecPtr vdec;
  AVStream* vst = nullptr;
  int64_t start_pts = 0;  ///< the video stream's start time in its time base
  AvPacketPtr pkt = make_av_packet();
  /// The last two decoded frames: `prev` (shown before `cur`) and the lookahead `cur`.
  AvFramePtr prev = make_av_frame(), cur = make_av_frame();
  bool have_prev = false, have_cur = false;
  double prev_t = 0, cur_t = 0;
  bool positioned = true;  ///< the demuxer/decoder follow on from prev/cur (false after audio)
  bool flushed = false;    ///< the demuxer hit the end and the decoder was sent the flush packet
  bool eof = false;        ///< the decoder has no more frames
  int64_t decoded = 0;
  bool skip_nonref = true;  ///< see VideoReader::set_frame_skipping
  SwsPtr sws;

  /// `stream <i> (<codec>)` for messages.
  std::string stream_name(int index) const;
  /// Every stream as `0 video (h264), 1 audio (aac)` for messages.
  std::string list_streams() const;
  /// Throws InputError naming the file and `stream`.
  [[noreturn]] void fail(int stream, const std::string& what) const;
};

/// Opens a decoder for `st`; throws InputError naming `path` and the stream when FFmpeg has none.
AvCodecPtr open_stream_decoder(const AVStream* st, const std::string& path, const char* kind);

}  // namespace mmfuse::data::video
