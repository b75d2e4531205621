// The audio track and embedded subtitles of a VideoReader (video_reader.cpp has the frames).
#include <cstring>

#include "mmfuse/core/error.h"
#include "mmfuse/data/video/video_reader.h"
#include "mmfuse/data/video/video_reader_state.h"

namespace mmfuse::data::video {

namespace {

// Rewinds the demuxer for a pass over another stream; the video position is lost.
void rewind_for_track(VideoReader::State& s, int stream) {
  const AVStream* st = s.fmt->streams[stream];
  const int64_t start = st->start_time != AV_NOPTS_VALUE ? st->start_time : 0;
  int r = av_seek_frame(s.fmt.get(), stream, start, AVSEEK_FLAG_BACKWARD);
  if (r < 0) r = av_seek_frame(s.fmt.get(), -1, 0, AVSEEK_FLAG_BYTE);
  if (r < 0) s.fail(stream, "cannot rewind to the start: " + av_error_text(r));
  s.positioned = false;
  s.have_prev = s.have_cur = false;
}

// Converts one decoded audio frame (any sample format and layout) to interleaved float at the
// output rate, appending to `out`; `frame` == nullptr drains the resampler.
void convert_audio_frame(SwrContext* swr, const AVFrame* frame, int channels, int in_rate,
                         int out_rate, std::vector<float>& out) {
  const int in = frame ? frame->nb_samples : 0;
  const int64_t room =
      av_rescale_rnd(swr_get_delay(swr, in_rate) + in, out_rate, in_rate, AV_ROUND_UP) + 16;
  const std::size_t old = out.size();
  out.resize(old + static_cast<std::size_t>(room * channels));
  uint8_t* dst = reinterpret_cast<uint8_t*>(out.data() + old);
  const int n =
      swr_convert(swr, &dst, static_cast<int>(room),
                  frame ? const_cast<const uint8_t**>(frame->extended_data) : nullptr, in);
  out.resize(old + static_cast<std::size_t>(std::max(n, 0) * channels));
}

SwrPtr make_resampler(const AVFrame* f, int out_rate, VideoReader::State& s, int stream) {
  AVChannelLayout layout = {};  // zeroed: av_channel_layout_copy() frees what it overwrites
  if (f->ch_layout.order == AV_CHANNEL_ORDER_UNSPEC || f->ch_layout.nb_channels == 0) {
    av_channel_layout_default(&layout, std::max(1, f->ch_layout.nb_channels));
  } else {
    av_channel_layout_copy(&layout, &f->ch_layout);
  }
  SwrContext* raw = nullptr;
  int r = swr_alloc_set_opts2(&raw, &layout, AV_SAMPLE_FMT_FLT, out_rate, &layout,
                              static_cast<AVSampleFormat>(f->format), f->sample_rate, 0, nullptr);
  av_channel_layout_uninit(&layout);
  SwrPtr swr(raw);
  if (r >= 0) r = swr_init(raw);
  if (r < 0) s.fail(stream, "cannot set up audio resampling: " + av_error_text(r));
  return swr;
}

// "ReadOrder,Layer,Style,Name,MarginL,MarginR,MarginV,Effect,Text" (FFmpeg's ASS event) -> Text.
std::string ass_event_text(const char* ass) {
  std::string s = ass ? ass : "";
  if (s.rfind("Dialogue:", 0) == 0) s = s.substr(s.find(',') + 1);  // older "Dialogue: 0,..."
  std::size_t pos = 0;
  for (int i = 0; i < 8 && pos != std::string::npos; ++i) {
    pos = s.find(',', pos);
    if (pos != std::string::npos) ++pos;
  }
  return pos == std::string::npos ? s : s.substr(pos);
}

}  // namespace

audio::Waveform VideoReader::read_audio(int sample_rate) {
  State& s = *s_;
  const int stream = s.info.audio_stream;
  if (stream < 0) {
    throw InputError("no audio stream (streams: " + s.list_streams() + ")", s.info.path);
  }
  if (sample_rate < 0) throw Error("read_audio expects a sample rate >= 0");
  AvCodecPtr dec = open_stream_decoder(s.fmt->streams[stream], s.info.path, "audio");
  rewind_for_track(s, stream);
  AvFramePtr frame = make_av_frame();
  SwrPtr swr;
  int channels = 1, in_rate = 0, out_rate = sample_rate;
  std::vector<float> interleaved;
  bool flushing = false;
  for (;;) {
    int r = avcodec_receive_frame(dec.get(), frame.get());
    if (r == 0) {
      if (!swr) {
        channels = std::max(1, frame->ch_layout.nb_channels);
        in_rate = frame->sample_rate;
        if (out_rate == 0) out_rate = in_rate;
        swr = make_resampler(frame.get(), out_rate, s, stream);
      }
      convert_audio_frame(swr.get(), frame.get(), channels, in_rate, out_rate, interleaved);
      continue;
    }
    if (r == AVERROR_EOF) break;
    if (r != AVERROR(EAGAIN)) s.fail(stream, "corrupt audio data: " + av_error_text(r));
    if (flushing) break;
    r = av_read_frame(s.fmt.get(), s.pkt.get());
    if (r == AVERROR_EOF) {
      avcodec_send_packet(dec.get(), nullptr);
      flushing = true;
      continue;
    }
    if (r < 0) s.fail(stream, "cannot read the file: " + av_error_text(r));
    if (s.pkt->stream_index == stream) r = avcodec_send_packet(dec.get(), s.pkt.get());
    av_packet_unref(s.pkt.get());
    if (r < 0 && r != AVERROR(EAGAIN)) s.fail(stream, "corrupt audio data: " + av_error_text(r));
  }
  if (!swr) s.fail(stream, "no audio could be decoded (the file is corrupt or truncated)");
  convert_audio_frame(swr.get(), nullptr, channels, in_rate, out_rate, interleaved);
  // Mono by averaging the channels, as audio::read_audio does for files.
  audio::Waveform w;
  w.sample_rate = out_rate;
  const std::size_t n = interleaved.size() / static_cast<std::size_t>(channels);
  w.samples.resize(n);
  for (std::size_t i = 0; i < n; ++i) {
    float sum = 0;
    for (int c = 0; c < channels; ++c) sum += interleaved[i * channels + c];
    w.samples[i] = sum / static_cast<float>(channels);
  }
  return w;
}

std::vector<SubtitleCue> VideoReader::read_embedded_subtitles() {
  State& s = *s_;
  const int stream = s.info.subtitle_stream;
  if (stream < 0) {
    throw InputError("no subtitle stream (streams: " + s.list_streams() +
                         "); give a sidecar .srt/.vtt file instead",
                     s.info.path);
  }
  const AVStream* st = s.fmt->streams[stream];
  AvCodecPtr dec = open_stream_decoder(st, s.info.path, "subtitle");
  rewind_for_track(s, stream);
  const int64_t start = st->start_time != AV_NOPTS_VALUE ? st->start_time : 0;
  std::vector<SubtitleCue> cues;
  for (;;) {
    int r = av_read_frame(s.fmt.get(), s.pkt.get());
    if (r == AVERROR_EOF) break;
    if (r < 0) s.fail(stream, "cannot read the file: " + av_error_text(r));
    if (s.pkt->stream_index != stream) {
      av_packet_unref(s.pkt.get());
      continue;
    }
    AVSubtitle sub;
    std::memset(&sub, 0, sizeof(sub));
    int got = 0;
    r = avcodec_decode_subtitle2(dec.get(), &sub, &got, s.pkt.get());
    const double t0 = static_cast<double>(s.pkt->pts - start) * av_q2d(st->time_base);
    const double dur = static_cast<double>(s.pkt->duration) * av_q2d(st->time_base);
    av_packet_unref(s.pkt.get());
    if (r < 0) s.fail(stream, "corrupt subtitle data: " + av_error_text(r));
    if (!got) continue;
    std::string text;
    bool bitmap = false;
    for (unsigned i = 0; i < sub.num_rects; ++i) {
      const AVSubtitleRect* rect = sub.rects[i];
      if (rect->type == SUBTITLE_BITMAP) bitmap = true;
      const std::string part =
          rect->type == SUBTITLE_ASS ? ass_event_text(rect->ass) : (rect->text ? rect->text : "");
      text += (text.empty() ? "" : " ") + strip_subtitle_markup(part);
    }
    const double begin = t0 + sub.start_display_time / 1000.0;
    const double end = sub.end_display_time > 0 ? t0 + sub.end_display_time / 1000.0 : t0 + dur;
    avsubtitle_free(&sub);
    if (bitmap) s.fail(stream, "bitmap subtitles cannot be read as text; give a .srt/.vtt file");
    if (!text.empty()) cues.push_back({begin, end, text});
  }
  return cues;
}

}  // namespace mmfuse::data::video
