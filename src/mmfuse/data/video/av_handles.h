// RAII owners for FFmpeg's C objects (demuxer, codec, frame, packet, scaler, resampler) and the
// text of an FFmpeg error code. Used by the video reader and writer only.
#pragma once

#include <memory>
#include <string>

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/channel_layout.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>
#include <libswscale/swscale.h>
}

namespace mmfuse::data::video {

struct AvInputCloser {
  void operator()(AVFormatContext* p) const { avformat_close_input(&p); }
};
struct AvCodecCloser {
  void operator()(AVCodecContext* p) const { avcodec_free_context(&p); }
};
struct AvFrameCloser {
  void operator()(AVFrame* p) const { av_frame_free(&p); }
};
struct AvPacketCloser {
  void operator()(AVPacket* p) const { av_packet_free(&p); }
};
struct SwsCloser {
  void operator()(SwsContext* p) const { sws_freeContext(p); }
};
struct SwrCloser {
  void operator()(SwrContext* p) const { swr_free(&p); }
};

using AvInputPtr = std::unique_ptr<AVFormatContext, AvInputCloser>;
using AvCodecPtr = std::unique_ptr<AVCodecContext, AvCodecCloser>;
using AvFramePtr = std::unique_ptr<AVFrame, AvFrameCloser>;
using AvPacketPtr = std::unique_ptr<AVPacket, AvPacketCloser>;
using SwsPtr = std::unique_ptr<SwsContext, SwsCloser>;
using SwrPtr = std::unique_ptr<SwrContext, SwrCloser>;

/// FFmpeg's message for an error code (e.g. "Invalid data found when processing input").
std::string av_error_text(int err);

/// A new frame / packet; throws std::bad_alloc when FFmpeg cannot allocate one.
AvFramePtr make_av_frame();
AvPacketPtr make_av_packet();

}  // namespace mmfuse::data::video
