#include "mmfuse/data/video/video_reader.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <limits>

#include "mmfuse/core/error.h"
#include "mmfuse/data/video/video_reader_state.h"

namespace mmfuse::data::video {

std::string av_error_text(int err) {
  char buf[AV_ERROR_MAX_STRING_SIZE] = {0};
  av_strerror(err, buf, sizeof(buf));
  return buf;
}

AvFramePtr make_av_frame() {
  AVFrame* f = av_frame_alloc();
  if (!f) throw std::bad_alloc();
  return AvFramePtr(f);
}

AvPacketPtr make_av_packet() {
  AVPacket* p = av_packet_alloc();
  if (!p) throw std::bad_alloc();
  return AvPacketPtr(p);
}

bool has_video_extension(const std::string& path) {
  const auto dot = path.find_last_of('.');
  if (dot == std::string::npos) return false;
  std::string ext = path.substr(dot + 1);
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const char* known : {"mp4", "m4v", "mkv", "webm", "avi", "mov"}) {
    if (ext == known) return true;
  }
  return false;
}

std::string VideoReader::State::stream_name(int index) const {
  const AVCodecParameters* par = fmt->streams[index]->codecpar;
  return "stream " + std::to_string(index) + " (" + avcodec_get_name(par->codec_id) + ")";
}

std::string VideoReader::State::list_streams() const {
  std::string out;
  for (unsigned i = 0; i < fmt->nb_streams; ++i) {
    const AVCodecParameters* par = fmt->streams[i]->codecpar;
    const char* type = av_get_media_type_string(par->codec_type);
    out += (out.empty() ? "" : ", ") + std::to_string(i) + " " + (type ? type : "unknown") + " (" +
           avcodec_get_name(par->codec_id) + ")";
  }
  return out.empty() ? "none" : out;
}

void VideoReader::State::fail(int stream, const std::string& what) const {
  throw InputError(stream_name(stream) + ": " + what, info.path);
}

AvCodecPtr open_stream_decoder(const AVStream* st, const std::string& path, const char* kind) {
  const AVCodecParameters* par = st->codecpar;
  const std::string name = std::string(kind) + " stream " + std::to_string(st->index) + " (" +
                           avcodec_get_name(par->codec_id) + ")";
  const AVCodec* codec = avcodec_find_decoder(par->codec_id);
  if (!codec) {
    throw InputError("unsupported codec in " + name +
                         ": this FFmpeg build has no decoder for it; re-encode the file "
                         "(e.g. ffmpeg -i in -c:v libx264 -c:a aac out.mp4)",
                     path);
  }
  AvCodecPtr ctx(avcodec_alloc_context3(codec));
  if (!ctx) throw std::bad_alloc();
  int r = avcodec_parameters_to_context(ctx.get(), par);
  if (r >= 0) {
    ctx->thread_count = 1;  // the loader decodes several samples in parallel already
    ctx->pkt_timebase = st->time_base;
    r = avcodec_open2(ctx.get(), codec, nullptr);
  }
  if (r < 0) throw InputError("cannot open the decoder of " + name + ": " + av_error_text(r), path);
  return ctx;
}

namespace {

double stream_seconds(int64_t ts, AVRational tb) {
  return static_cast<double>(ts) * av_q2d(tb);
}

void fill_video_info(VideoInfo& info, const AVFormatContext* fmt, const AVStream* st) {
  const AVCodecParameters* par = st->codecpar;
  info.video_stream = st->index;
  info.video_codec = avcodec_get_name(par->codec_id);
  info.width = par->width;
  info.height = par->height;
  AVRational rate = st->avg_frame_rate.num > 0 ? st->avg_frame_rate : st->r_frame_rate;
  info.fps = rate.num > 0 && rate.den > 0 ? av_q2d(rate) : 0.0;
  if (st->duration != AV_NOPTS_VALUE && st->duration > 0) {
    info.duration_s = stream_seconds(st->duration, st->time_base);
  } else if (fmt->duration != AV_NOPTS_VALUE && fmt->duration > 0) {
    info.duration_s = static_cast<double>(fmt->duration) / AV_TIME_BASE;
  }
  info.frame_count = st->nb_frames;
  if (info.frame_count <= 0 && info.fps > 0 && info.duration_s > 0) info.frame_count = 0;
}

void fill_other_streams(VideoInfo& info, const AVFormatContext* fmt) {
  for (unsigned i = 0; i < fmt->nb_streams; ++i) {
    const AVCodecParameters* par = fmt->streams[i]->codecpar;
    if (par->codec_type == AVMEDIA_TYPE_AUDIO && info.audio_stream < 0) {
      info.audio_stream = static_cast<int>(i);
      info.audio_codec = avcodec_get_name(par->codec_id);
      info.audio_rate = par->sample_rate;
      info.audio_channels = par->ch_layout.nb_channels;
    } else if (par->codec_type == AVMEDIA_TYPE_SUBTITLE && info.subtitle_stream < 0) {
      info.subtitle_stream = static_cast<int>(i);
      info.subtitle_codec = avcodec_get_name(par->codec_id);
    }
  }
}

}  // namespace

VideoReader::VideoReader(const std::string& path) : s_(std::make_unique<State>()) {
  s_->info.path = path;
  av_log_set_level(AV_LOG_FATAL);  // errors reach the caller as exceptions, not stderr
  AVFormatContext* raw = nullptr;
  int r = avformat_open_input(&raw, path.c_str(), nullptr, nullptr);
  if (r < 0) {
    throw InputError("cannot open the video: " + av_error_text(r) +
                         " (missing, not a video, or corrupt/truncated)",
                     path);
  }
  s_->fmt.reset(raw);
  r = avformat_find_stream_info(raw, nullptr);
  if (r < 0) throw InputError("cannot read the video's streams: " + av_error_text(r), path);
  r = av_find_best_stream(raw, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
  if (r < 0) {
    throw InputError("no video stream (streams: " + s_->list_streams() +
                         "); for sound only, use the file as an audio field",
                     path);
  }
  s_->vst = raw->streams[r];
  fill_video_info(s_->info, raw, s_->vst);
  fill_other_streams(s_->info, raw);
  s_->vdec = open_stream_decoder(s_->vst, path, "video");
  s_->start_pts = s_->vst->start_time != AV_NOPTS_VALUE ? s_->vst->start_time : 0;
}

VideoReader::~VideoReader() = default;

const VideoInfo& VideoReader::info() const {
  return s_->info;
}

void VideoReader::set_frame_skipping(bool on) {
  s_->skip_nonref = on;
}

int64_t VideoReader::frames_decoded() const {
  return s_->decoded;
}

std::vector<double> VideoReader::sample_times(const FrameSampling& s) const {
  if (s.frames < 0 || s.fps < 0 || s.start_s < 0) {
    throw Error("frame sampling expects frames >= 0, fps >= 0, start_s >= 0");
  }
  const double span = std::max(0.0, s_->info.duration_s - s.start_s);
  std::vector<double> times;
  if (s.fps > 0) {
    for (int i = 0; s.frames == 0 || i < s.frames; ++i) {
      const double t = s.start_s + i / s.fps;
      if (i > 0 && t >= s.start_s + span) break;
      times.push_back(t);
    }
  } else {
    const int k = std::max(1, s.frames);
    for (int i = 0; i < k; ++i) times.push_back(s.start_s + (i + 0.5) * span / k);
  }
  return times;
}

namespace {

// Decodes the next frame of the video stream into `out`; false at the end of the stream.
bool decode_next_video_frame(VideoReader::State& s, AVFrame* out) {
  for (;;) {
    int r = avcodec_receive_frame(s.vdec.get(), out);
    if (r == 0) {
      ++s.decoded;
      return true;
    }
    if (r == AVERROR_EOF) return false;
    if (r != AVERROR(EAGAIN)) s.fail(s.vst->index, "corrupt video data: " + av_error_text(r));
    if (s.flushed) return false;
    r = av_read_frame(s.fmt.get(), s.pkt.get());
    if (r == AVERROR_EOF) {
      avcodec_send_packet(s.vdec.get(), nullptr);
      s.flushed = true;
      continue;
    }
    if (r < 0) s.fail(s.vst->index, "cannot read the file: " + av_error_text(r));
    if (s.pkt->stream_index == s.vst->index) {
      r = avcodec_send_packet(s.vdec.get(), s.pkt.get());
      av_packet_unref(s.pkt.get());
      if (r < 0 && r != AVERROR(EAGAIN))
        s.fail(s.vst->index, "corrupt video data: " + av_error_text(r));
    } else {
      av_packet_unref(s.pkt.get());
    }
  }
}

double frame_time(const VideoReader::State& s, const AVFrame* f, double previous) {
  const int64_t ts = f->best_effort_timestamp;
  if (ts == AV_NOPTS_VALUE) return previous + (s.info.fps > 0 ? 1.0 / s.info.fps : 0.0);
  return stream_seconds(ts - s.start_pts, s.vst->time_base);
}

void seek_video(VideoReader::State& s, double t) {
  const int64_t ts = s.start_pts + std::llround(t / av_q2d(s.vst->time_base));
  int r = av_seek_frame(s.fmt.get(), s.vst->index, ts, AVSEEK_FLAG_BACKWARD);
  if (r < 0)
    r = av_seek_frame(s.fmt.get(), s.vst->index, ts, AVSEEK_FLAG_BACKWARD | AVSEEK_FLAG_ANY);
  if (r < 0)
    s.fail(s.vst->index, "cannot seek to " + std::to_string(t) + " s: " + av_error_text(r));
  avcodec_flush_buffers(s.vdec.get());
  s.have_prev = s.have_cur = false;
  s.flushed = s.eof = false;
  s.positioned = true;
}

// Whether reaching time `t` is cheaper by seeking than by decoding on from where we are.
bool should_seek_video(const VideoReader::State& s, double t) {
  if (!s.positioned) return true;
  if (s.have_prev && t < s.prev_t) return true;  // backwards
  if ((s.have_cur && t < s.cur_t) || s.eof) return false;
  const double here = s.have_cur ? s.cur_t : (s.have_prev ? s.prev_t : 0.0);
  const int64_t ts = s.start_pts + std::llround(t / av_q2d(s.vst->time_base));
  const int idx = av_index_search_timestamp(s.vst, ts, AVSEEK_FLAG_BACKWARD);
  if (idx >= 0) {
    const AVIndexEntry* e = avformat_index_get_entry(s.vst, idx);
    return e && stream_seconds(e->timestamp - s.start_pts, s.vst->time_base) > here + 1e-6;
  }
  return t - here > 2.0;  // no index: seek only over long gaps
}

// Far before `t`, frames that no other frame refers to (most B-frames) need not be decoded: the
// frame shown at `t` comes out the same. The decoder returns frames up to `has_b_frames` behind
// the packets it is fed, so skipping stops `has_b_frames + 3` frame durations before `t`.
// Before the first frame after a seek the position is unknown, and nothing is skipped.
void choose_frame_skipping(VideoReader::State& s, double t) {
  AVCodecContext* dec = s.vdec.get();
  const double frame_s = s.info.fps > 0 ? 1.0 / s.info.fps : 0.04;
  const double margin = (std::max(dec->has_b_frames, 0) + 3) * frame_s;
  const bool far = s.skip_nonref && s.have_cur && s.cur_t < t - margin;
  dec->skip_frame = far ? AVDISCARD_NONREF : AVDISCARD_DEFAULT;
}

// Leaves the frame shown at `t` in s.prev or s.cur and returns it (nullptr: no frame at all).
const AVFrame* video_frame_at(VideoReader::State& s, double t) {
  if (should_seek_video(s, t)) seek_video(s, t);
  while (!(s.have_cur && s.cur_t > t) && !s.eof) {
    choose_frame_skipping(s, t);
    if (s.have_cur) {
      av_frame_unref(s.prev.get());
      av_frame_move_ref(s.prev.get(), s.cur.get());
      s.prev_t = s.cur_t;
      s.have_prev = true;
      s.have_cur = false;
    }
    if (decode_next_video_frame(s, s.cur.get())) {
      s.cur_t = frame_time(s, s.cur.get(), s.have_prev ? s.prev_t : -1.0);
      s.have_cur = true;
    } else {
      s.eof = true;
    }
  }
  if (s.have_prev && (s.prev_t <= t || !s.have_cur)) return s.prev.get();
  return s.have_cur ? s.cur.get() : nullptr;
}

cv::Mat frame_to_rgb(VideoReader::State& s, const AVFrame* f) {
  const auto fmt = static_cast<AVPixelFormat>(f->format);
  SwsContext* ctx =
      sws_getCachedContext(s.sws.release(), f->width, f->height, fmt, f->width, f->height,
                           AV_PIX_FMT_RGB24, SWS_BILINEAR, nullptr, nullptr, nullptr);
  s.sws.reset(ctx);
  if (!ctx) s.fail(s.vst->index, "cannot convert its pixel format to RGB");
  // swscale's SIMD writers may store a few bytes past a line's end: give it 64-byte aligned
  // lines and a spare row, and return the H x W x 3 view of that buffer.
  const int stride = (f->width * 3 + 63) & ~63;
  cv::Mat buffer(f->height + 1, stride, CV_8UC1);
  uint8_t* dst[4] = {buffer.data, nullptr, nullptr, nullptr};
  int strides[4] = {stride, 0, 0, 0};
  sws_scale(ctx, f->data, f->linesize, 0, f->height, dst, strides);
  return buffer(cv::Rect(0, 0, f->width * 3, f->height)).reshape(3);
}

}  // namespace

std::vector<VideoFrame> VideoReader::read_frames_at(const std::vector<double>& times) {
  State& s = *s_;
  std::vector<VideoFrame> out;
  out.reserve(times.size());
  const double frame_s = s.info.fps > 0 ? 1.0 / s.info.fps : 0.04;
  for (std::size_t i = 0; i < times.size(); ++i) {
    const double t = times[i];
    if (i > 0 && t < times[i - 1]) throw Error("read_frames_at expects ascending times");
    const AVFrame* f = video_frame_at(s, t);
    if (!f) s.fail(s.vst->index, "no frame could be decoded (the file is corrupt or truncated)");
    const double ft = f == s.prev.get() ? s.prev_t : s.cur_t;
    // At the end of the stream, a requested time inside the declared duration but well after
    // the last frame means the file was cut short.
    const double wanted = std::min(t, s.info.duration_s - frame_s);
    if (s.eof && wanted > ft + 2 * frame_s + 0.1) {
      s.fail(s.vst->index, "the frames end at " + std::to_string(ft) + " s but the file declares " +
                               std::to_string(s.info.duration_s) +
                               " s: the file is truncated or corrupt");
    }
    out.push_back({frame_to_rgb(s, f), ft});
  }
  return out;
}

std::vector<VideoFrame> VideoReader::read_all_frames() {
  State& s = *s_;
  if (!s.positioned || s.have_prev || s.have_cur || s.decoded > 0) seek_video(s, 0.0);
  s.vdec->skip_frame = AVDISCARD_DEFAULT;  // every frame, also those sampled reads skip
  std::vector<VideoFrame> out;
  AvFramePtr f = make_av_frame();
  double t = -1.0;
  while (decode_next_video_frame(s, f.get())) {
    t = frame_time(s, f.get(), t);
    out.push_back({frame_to_rgb(s, f.get()), t});
  }
  s.eof = true;
  s.positioned = false;
  return out;
}

}  // namespace mmfuse::data::video
