#include "mmfuse/data/video/video_writer.h"

#include <cstring>
#include <filesystem>

#include "mmfuse/core/error.h"
#include "mmfuse/data/video/av_handles.h"

namespace mmfuse::data::video {

struct VideoWriter::State {
  std::string path, tmp;
  VideoWriterOptions opt;
  std::string encoder_name;
  AVFormatContext* out = nullptr;  ///< owned; freed in the destructor
  AvCodecPtr venc, aenc;
  AVStream *vst = nullptr, *ast = nullptr;
  AvFramePtr frame = make_av_frame();
  AvPacketPtr pkt = make_av_packet();
  SwsPtr sws;
  int64_t next_pts = 0;
  std::vector<float> audio;
  bool finished = false;

  void check(int r, const std::string& what) const {
    if (r < 0) throw Error(tmp + ": " + what + ": " + av_error_text(r));
  }
  // Sends `f` (nullptr: flush) to `enc` and writes every packet it gives back.
  void encode(AVCodecContext* enc, AVStream* st, const AVFrame* f) {
    check(avcodec_send_frame(enc, f), "encoding failed");
    for (;;) {
      const int r = avcodec_receive_packet(enc, pkt.get());
      if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return;
      check(r, "encoding failed");
      // A video packet lasts one frame (1 in 1/fps units); without it the muxer's edit list
      // ends at the last frame's start and demuxers drop that frame.
      if (enc->codec_type == AVMEDIA_TYPE_VIDEO && pkt->duration == 0) pkt->duration = 1;
      av_packet_rescale_ts(pkt.get(), enc->time_base, st->time_base);
      pkt->stream_index = st->index;
      check(av_interleaved_write_frame(out, pkt.get()), "cannot write a packet");
    }
  }
};

namespace {

AvCodecPtr open_video_encoder(VideoWriter::State& s) {
  const AVCodec* codec = avcodec_find_encoder_by_name(s.opt.video_encoder.c_str());
  if (!codec) codec = avcodec_find_encoder(AV_CODEC_ID_MPEG4);
  if (!codec) throw Error("this FFmpeg build has neither " + s.opt.video_encoder + " nor mpeg4");
  s.encoder_name = codec->name;
  AvCodecPtr enc(avcodec_alloc_context3(codec));
  enc->width = s.opt.width;
  enc->height = s.opt.height;
  enc->pix_fmt = AV_PIX_FMT_YUV420P;
  enc->time_base = AVRational{1, s.opt.fps};
  enc->framerate = AVRational{s.opt.fps, 1};
  enc->gop_size = s.opt.fps;
  enc->max_b_frames = 0;
  enc->thread_count = 1;  // deterministic output
  if (s.out->oformat->flags & AVFMT_GLOBALHEADER) enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  AVDictionary* opts = nullptr;
  if (s.encoder_name == "libx264") {
    av_dict_set(&opts, "preset", "veryfast", 0);
    av_dict_set(&opts, "crf", std::to_string(s.opt.crf).c_str(), 0);
    // x264's macroblock-tree rate control reads heap memory it never wrote (core 164), so with it
    // the bytes, and even the decoded frames, depended on what the allocator handed out before:
    // `make-video` gave other clips with 2 threads than with 1. Off, the same frames always give
    // the same bytes (checked with glibc's MALLOC_PERTURB_); a 1 s clip gains little from it.
    av_dict_set(&opts, "mbtree", "0", 0);
  } else {
    enc->bit_rate = 400000;
  }
  const int r = avcodec_open2(enc.get(), codec, &opts);
  av_dict_free(&opts);
  s.check(r, "cannot open the " + s.encoder_name + " encoder");
  return enc;
}

AvCodecPtr open_audio_encoder(VideoWriter::State& s) {
  const AVCodec* codec = avcodec_find_encoder(AV_CODEC_ID_AAC);
  if (!codec) throw Error("this FFmpeg build has no AAC encoder");
  AvCodecPtr enc(avcodec_alloc_context3(codec));
  enc->sample_fmt = AV_SAMPLE_FMT_FLTP;
  enc->sample_rate = s.opt.audio_rate;
  av_channel_layout_default(&enc->ch_layout, 1);
  enc->bit_rate = s.opt.audio_bitrate;
  enc->time_base = AVRational{1, s.opt.audio_rate};
  if (s.out->oformat->flags & AVFMT_GLOBALHEADER) enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  s.check(avcodec_open2(enc.get(), codec, nullptr), "cannot open the AAC encoder");
  return enc;
}

AVStream* add_stream(VideoWriter::State& s, const AVCodecContext* enc) {
  AVStream* st = avformat_new_stream(s.out, nullptr);
  if (!st) throw std::bad_alloc();
  s.check(avcodec_parameters_from_context(st->codecpar, enc), "cannot set stream parameters");
  st->time_base = enc->time_base;
  return st;
}

}  // namespace

VideoWriter::VideoWriter(std::string path, VideoWriterOptions options)
    : s_(std::make_unique<State>()) {
  State& s = *s_;
  s.path = std::move(path);
  s.tmp = s.path + ".partial";
  s.opt = std::move(options);
  if (s.opt.width <= 0 || s.opt.height <= 0 || s.opt.width % 2 || s.opt.height % 2 ||
      s.opt.fps <= 0) {
    throw Error("video writer: expected even positive sizes and fps > 0");
  }
  if (av_log_get_level() > AV_LOG_ERROR) av_log_set_level(AV_LOG_ERROR);  // no encoder chatter
  s.check(avformat_alloc_output_context2(&s.out, nullptr, "mp4", s.tmp.c_str()),
          "cannot create an MP4 muxer");
  s.venc = open_video_encoder(s);
  s.vst = add_stream(s, s.venc.get());
  if (s.opt.audio_rate > 0) {
    s.aenc = open_audio_encoder(s);
    s.ast = add_stream(s, s.aenc.get());
  }
  s.check(avio_open(&s.out->pb, s.tmp.c_str(), AVIO_FLAG_WRITE), "cannot create the file");
  AVDictionary* mux = nullptr;
  av_dict_set(&mux, "movflags", "+faststart", 0);
  const int r = avformat_write_header(s.out, &mux);
  av_dict_free(&mux);
  s.check(r, "cannot write the header");
}

VideoWriter::~VideoWriter() {
  State& s = *s_;
  if (s.out) {
    if (s.out->pb) avio_closep(&s.out->pb);
    avformat_free_context(s.out);
  }
  if (!s.finished) {
    std::error_code ec;
    std::filesystem::remove(s.tmp, ec);
  }
}

const std::string& VideoWriter::video_encoder() const {
  return s_->encoder_name;
}

void VideoWriter::add_frame(const cv::Mat& image) {
  State& s = *s_;
  if (image.rows != s.opt.height || image.cols != s.opt.width || image.depth() != CV_8U ||
      (image.channels() != 1 && image.channels() != 3)) {
    throw Error("video writer: expected " + std::to_string(s.opt.width) + "x" +
                std::to_string(s.opt.height) + " uint8 gray or RGB frames");
  }
  const AVPixelFormat src = image.channels() == 1 ? AV_PIX_FMT_GRAY8 : AV_PIX_FMT_RGB24;
  s.sws.reset(sws_getCachedContext(s.sws.release(), image.cols, image.rows, src, image.cols,
                                   image.rows, AV_PIX_FMT_YUV420P, SWS_BILINEAR, nullptr, nullptr,
                                   nullptr));
  AVFrame* f = s.frame.get();
  av_frame_unref(f);
  f->format = AV_PIX_FMT_YUV420P;
  f->width = image.cols;
  f->height = image.rows;
  s.check(av_frame_get_buffer(f, 0), "cannot allocate a frame");
  const uint8_t* src_data[4] = {image.data, nullptr, nullptr, nullptr};
  const int src_stride[4] = {static_cast<int>(image.step[0]), 0, 0, 0};
  sws_scale(s.sws.get(), src_data, src_stride, 0, image.rows, f->data, f->linesize);
  f->pts = s.next_pts++;
  s.encode(s.venc.get(), s.vst, f);
}

void VideoWriter::set_audio(const std::vector<float>& samples) {
  if (!s_->aenc) throw Error("video writer: set_audio needs audio_rate > 0");
  s_->audio = samples;
}

void VideoWriter::finish() {
  State& s = *s_;
  s.encode(s.venc.get(), s.vst, nullptr);
  if (s.aenc) {
    const int n = s.aenc->frame_size > 0 ? s.aenc->frame_size : 1024;
    for (std::size_t pos = 0; pos < s.audio.size(); pos += static_cast<std::size_t>(n)) {
      AVFrame* f = s.frame.get();
      av_frame_unref(f);
      f->format = AV_SAMPLE_FMT_FLTP;
      f->sample_rate = s.opt.audio_rate;
      av_channel_layout_default(&f->ch_layout, 1);
      f->nb_samples = n;  // the last frame is zero-padded to a whole AAC frame
      s.check(av_frame_get_buffer(f, 0), "cannot allocate an audio frame");
      const std::size_t take = std::min(s.audio.size() - pos, static_cast<std::size_t>(n));
      auto* dst = reinterpret_cast<float*>(f->data[0]);
      std::memset(dst, 0, sizeof(float) * static_cast<std::size_t>(n));
      std::memcpy(dst, s.audio.data() + pos, sizeof(float) * take);
      f->pts = static_cast<int64_t>(pos);
      s.encode(s.aenc.get(), s.ast, f);
    }
    s.encode(s.aenc.get(), s.ast, nullptr);
  }
  s.check(av_write_trailer(s.out), "cannot finish the file");
  avio_closep(&s.out->pb);
  std::filesystem::rename(s.tmp, s.path);
  s.finished = true;
}

}  // namespace mmfuse::data::video
