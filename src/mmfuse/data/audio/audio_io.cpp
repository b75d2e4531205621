#include "mmfuse/data/audio/audio_io.h"

#include <filesystem>

#include <samplerate.h>
#include <sndfile.h>

#include <array>
#include <cmath>
#include <cstring>

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"
#include "mmfuse/data/video/video_reader.h"

namespace mmfuse::data::audio {

namespace {

constexpr std::array<std::pair<std::string_view, ResampleQuality>, 5> kQualityNames = {{
    {"sinc_best", ResampleQuality::sinc_best},
    {"sinc_medium", ResampleQuality::sinc_medium},
    {"sinc_fastest", ResampleQuality::sinc_fastest},
    {"zero_order_hold", ResampleQuality::zero_order_hold},
    {"linear", ResampleQuality::linear},
}};

int src_converter(ResampleQuality q) {
  switch (q) {
    case ResampleQuality::sinc_best:
      return SRC_SINC_BEST_QUALITY;
    case ResampleQuality::sinc_medium:
      return SRC_SINC_MEDIUM_QUALITY;
    case ResampleQuality::sinc_fastest:
      return SRC_SINC_FASTEST;
    case ResampleQuality::zero_order_hold:
      return SRC_ZERO_ORDER_HOLD;
    case ResampleQuality::linear:
      return SRC_LINEAR;
  }
  return SRC_SINC_MEDIUM_QUALITY;
}

// libsndfile virtual I/O over bytes already in memory (one read syscall per file).
struct MemoryFile {
  const std::string* bytes;
  sf_count_t pos = 0;
};

sf_count_t mem_length(void* user) {
  return static_cast<sf_count_t>(static_cast<MemoryFile*>(user)->bytes->size());
}
sf_count_t mem_seek(sf_count_t offset, int whence, void* user) {
  auto* m = static_cast<MemoryFile*>(user);
  const auto size = static_cast<sf_count_t>(m->bytes->size());
  sf_count_t pos = whence == SEEK_SET   ? offset
                   : whence == SEEK_CUR ? m->pos + offset
                                        : size + offset;
  if (pos < 0 || pos > size) return -1;
  m->pos = pos;
  return pos;
}
sf_count_t mem_read(void* ptr, sf_count_t count, void* user) {
  auto* m = static_cast<MemoryFile*>(user);
  const auto size = static_cast<sf_count_t>(m->bytes->size());
  sf_count_t n = std::max<sf_count_t>(0, std::min(count, size - m->pos));
  std::memcpy(ptr, m->bytes->data() + m->pos, static_cast<std::size_t>(n));
  m->pos += n;
  return n;
}
sf_count_t mem_write(const void*, sf_count_t, void*) {
  return 0;
}
sf_count_t mem_tell(void* user) {
  return static_cast<MemoryFile*>(user)->pos;
}

uint32_t le32(const std::string& b, std::size_t at) {
  const auto* p = reinterpret_cast<const unsigned char*>(b.data() + at);
  return p[0] | (p[1] << 8) | (p[2] << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

// Frames the data chunk of a RIFF/WAVE file declares, or -1 when unknown (streamed WAV, RF64,
// no fmt chunk). libsndfile silently shortens a truncated data chunk to what is there, so the
// declared size has to come from the header itself.
int64_t wav_declared_frames(const std::string& b) {
  if (b.size() < 12 || b.compare(0, 4, "RIFF") != 0 || b.compare(8, 4, "WAVE") != 0) return -1;
  uint32_t block_align = 0;
  std::size_t at = 12;
  while (at + 8 <= b.size()) {
    const uint32_t size = le32(b, at + 4);
    if (b.compare(at, 4, "fmt ") == 0 && at + 8 + 14 <= b.size()) {
      block_align = le32(b, at + 8 + 12) & 0xffffu;
    } else if (b.compare(at, 4, "data") == 0) {
      if (block_align == 0 || size == 0 || size == 0xffffffffu) return -1;
      return size / block_align;
    }
    at += 8 + static_cast<std::size_t>(size) + (size & 1u);
  }
  return -1;
}

}  // namespace

std::string_view to_string(ResampleQuality q) {
  for (const auto& [name, value] : kQualityNames) {
    if (value == q) return name;
  }
  return "?";
}

bool resample_quality_from_string(std::string_view name, ResampleQuality* out) {
  for (const auto& [n, value] : kQualityNames) {
    if (n == name) {
      *out = value;
      return true;
    }
  }
  return false;
}

std::string resample_quality_names() {
  std::string out;
  for (const auto& entry : kQualityNames)
    out += (out.empty() ? "" : ", ") + std::string(entry.first);
  return out;
}

Waveform read_audio(const std::string& path, const AudioLimits& limits) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (!ec && size > static_cast<uintmax_t>(limits.max_bytes)) {
    throw InputError("audio file is " + std::to_string(size) + " bytes, " +
                         limit_hint(limits.max_bytes, "max_audio_bytes"),
                     path);
  }
  // A video clip's sound track (data/video): FFmpeg decodes the container, at the track's rate.
  if (video::has_video_extension(path)) return video::VideoReader(path).read_audio(0);
  return decode_audio(read_file(path), path, limits);  // InputError naming the file when missing
}

Waveform decode_audio(const std::string& bytes, const std::string& path,
                      const AudioLimits& limits) {
  if (bytes.empty()) {
    throw InputError("empty file (0 bytes); expected a WAV, FLAC or OGG audio file", path);
  }
  if (static_cast<int64_t>(bytes.size()) > limits.max_bytes) {
    throw InputError("audio file is " + std::to_string(bytes.size()) + " bytes, " +
                         limit_hint(limits.max_bytes, "max_audio_bytes"),
                     path);
  }
  MemoryFile mem{&bytes};
  SF_VIRTUAL_IO io{mem_length, mem_seek, mem_read, mem_write, mem_tell};
  SF_INFO info{};
  SNDFILE* raw = sf_open_virtual(&io, SFM_READ, &info, &mem);
  if (!raw) {
    throw InputError(std::string("cannot decode audio: ") + sf_strerror(nullptr) +
                         "; expected a valid WAV, FLAC or OGG file (re-export or re-download it)",
                     path);
  }
  std::unique_ptr<SNDFILE, int (*)(SNDFILE*)> file(raw, sf_close);
  if (info.frames <= 0 || info.channels <= 0) {
    throw InputError("zero-length audio (0 frames); expected at least one sample", path);
  }
  if (info.samplerate <= 0) {
    throw InputError("invalid sample rate " + std::to_string(info.samplerate) +
                         " Hz in the header; the file is corrupt",
                     path);
  }
  const double seconds = static_cast<double>(info.frames) / info.samplerate;
  if (seconds > limits.max_seconds) {
    throw InputError("audio header declares " + std::to_string(info.frames) + " frames at " +
                         std::to_string(info.samplerate) + " Hz = " + std::to_string(seconds) +
                         " s, over the limit of " + std::to_string(limits.max_seconds) +
                         " s (`limits.max_audio_seconds` in the dataset spec; raise it there to "
                         "accept longer files)",
                     path);
  }
  const int major = info.format & SF_FORMAT_TYPEMASK;
  if (major == SF_FORMAT_WAV || major == SF_FORMAT_WAVEX) {
    const int64_t declared = wav_declared_frames(bytes);
    if (declared > info.frames) {
      throw InputError("truncated audio (header declares " + std::to_string(declared) +
                           " frames, the file holds " + std::to_string(info.frames) +
                           "); the file is incomplete: re-export or re-download it",
                       path);
    }
  }
  const int channels = info.channels;
  std::vector<float> interleaved(static_cast<std::size_t>(info.frames) * channels);
  const sf_count_t got = sf_readf_float(file.get(), interleaved.data(), info.frames);
  if (got != info.frames) {
    throw InputError("truncated audio (expected " + std::to_string(info.frames) +
                         " frames, decoded " + std::to_string(got) +
                         "): " + sf_strerror(file.get()) + "; re-export or re-download the file",
                     path);
  }
  Waveform out;
  out.sample_rate = info.samplerate;
  if (channels == 1) {
    out.samples = std::move(interleaved);
    return out;
  }
  out.samples.resize(static_cast<std::size_t>(info.frames));
  const float inv = 1.0f / static_cast<float>(channels);
  for (std::size_t i = 0; i < out.samples.size(); ++i) {
    float sum = 0.0f;
    for (int c = 0; c < channels; ++c) sum += interleaved[i * channels + c];
    out.samples[i] = sum * inv;
  }
  return out;
}

std::vector<float> resample(const std::vector<float>& samples, int from_rate, int to_rate,
                            ResampleQuality quality) {
  if (from_rate <= 0 || to_rate <= 0) {
    throw Error("resample: expected positive sample rates, got " + std::to_string(from_rate) +
                " -> " + std::to_string(to_rate));
  }
  if (from_rate == to_rate || samples.empty()) return samples;
  const double ratio = static_cast<double>(to_rate) / from_rate;
  const auto want = static_cast<std::size_t>(std::llround(samples.size() * ratio));
  std::vector<float> out(want + 16, 0.0f);
  SRC_DATA d{};
  d.data_in = samples.data();
  d.input_frames = static_cast<long>(samples.size());
  d.data_out = out.data();
  d.output_frames = static_cast<long>(out.size());
  d.src_ratio = ratio;
  const int err = src_simple(&d, src_converter(quality), 1);
  if (err != 0) {
    throw Error(std::string("resample ") + std::to_string(from_rate) + " -> " +
                std::to_string(to_rate) + " Hz failed: " + src_strerror(err));
  }
  out.resize(static_cast<std::size_t>(d.output_frames_gen));
  out.resize(want, 0.0f);  // libsamplerate may stop a few samples short at the end
  return out;
}

void mix_noise(std::vector<float>& speech, const std::vector<float>& noise, double offset_s,
               double snr_db, int rate) {
  if (noise.empty()) throw Error("mix_noise: the noise has no samples");
  const auto len = static_cast<int64_t>(noise.size());
  // Python's round() rounds half to even, as nearbyint does in the default rounding mode.
  int64_t start = static_cast<int64_t>(std::nearbyint(offset_s * rate)) % len;
  if (start < 0) start += len;
  double ps = 0.0, pn = 0.0;
  for (float s : speech) ps += static_cast<double>(s) * s;
  int64_t j = start;
  for (std::size_t i = 0; i < speech.size(); ++i) {
    pn += static_cast<double>(noise[j]) * noise[j];
    if (++j == len) j = 0;
  }
  if (pn == 0.0) return;
  const double g = std::sqrt(ps / (pn * std::pow(10.0, snr_db / 10.0)));
  const auto gf = static_cast<float>(g);  // numpy: float32 array * Python float stays float32
  j = start;
  for (auto& s : speech) {
    s = s + gf * noise[j];
    if (++j == len) j = 0;
  }
}

std::shared_ptr<const std::vector<float>> AudioCache::get(const std::string& path, int sample_rate,
                                                          ResampleQuality quality) const {
  const std::string key =
      path + '\n' + std::to_string(sample_rate) + '\n' + std::string(to_string(quality));
  {
    std::lock_guard<std::mutex> lock(mutex_);
    auto it = entries_.find(key);
    if (it != entries_.end()) return it->second;
  }
  // Decode outside the lock; two threads may decode the same file once each, the first wins.
  Waveform w = read_audio(path);
  auto samples = std::make_shared<const std::vector<float>>(
      resample(w.samples, w.sample_rate, sample_rate, quality));
  std::lock_guard<std::mutex> lock(mutex_);
  return entries_.emplace(key, std::move(samples)).first->second;
}

std::size_t AudioCache::size() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return entries_.size();
}

}  // namespace mmfuse::data::audio
