#include "mmfuse/data/default_dataset/wav_buffer.h"

#include <samplerate.h>
#include <sndfile.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "mmfuse/core/error.h"

namespace mmfuse::data::default_dataset {

namespace {

// libsndfile virtual I/O over a growable byte buffer.
struct Buffer {
  std::string bytes;
  sf_count_t pos = 0;
};

sf_count_t vio_length(void* user) {
  return static_cast<Buffer*>(user)->bytes.size();
}

sf_count_t vio_seek(sf_count_t offset, int whence, void* user) {
  auto* b = static_cast<Buffer*>(user);
  sf_count_t base = whence == SEEK_SET ? 0 : (whence == SEEK_CUR ? b->pos : b->bytes.size());
  b->pos = std::max<sf_count_t>(0, base + offset);
  return b->pos;
}

sf_count_t vio_read(void* ptr, sf_count_t count, void* user) {
  auto* b = static_cast<Buffer*>(user);
  sf_count_t size = b->bytes.size();
  sf_count_t n = std::max<sf_count_t>(0, std::min(count, size - b->pos));
  if (n > 0) std::memcpy(ptr, b->bytes.data() + b->pos, n);
  b->pos += n;
  return n;
}

sf_count_t vio_write(const void* ptr, sf_count_t count, void* user) {
  auto* b = static_cast<Buffer*>(user);
  sf_count_t end = b->pos + count;
  if (end > static_cast<sf_count_t>(b->bytes.size())) b->bytes.resize(end);
  std::memcpy(b->bytes.data() + b->pos, ptr, count);
  b->pos = end;
  return count;
}

sf_count_t vio_tell(void* user) {
  return static_cast<Buffer*>(user)->pos;
}

SF_VIRTUAL_IO virtual_io() {
  return {vio_length, vio_seek, vio_read, vio_write, vio_tell};
}

}  // namespace

MonoAudio decode_audio(std::string_view bytes, const std::string& what) {
  Buffer buffer{std::string(bytes), 0};
  SF_VIRTUAL_IO io = virtual_io();
  SF_INFO info{};
  SNDFILE* file = sf_open_virtual(&io, SFM_READ, &info, &buffer);
  if (!file) {
    throw InputError(std::string("expected audio bytes libsndfile can read, got ") +
                         std::to_string(bytes.size()) +
                         " bytes it rejects: " + sf_strerror(nullptr),
                     what);
  }
  std::vector<float> interleaved;
  std::vector<float> chunk(4096 * std::max(1, info.channels));
  sf_count_t got;
  while ((got = sf_readf_float(file, chunk.data(), 4096)) > 0) {
    interleaved.insert(interleaved.end(), chunk.begin(), chunk.begin() + got * info.channels);
  }
  sf_close(file);
  MonoAudio out;
  out.sample_rate = info.samplerate;
  const std::size_t channels = std::max(1, info.channels);
  out.samples.resize(interleaved.size() / channels);
  for (std::size_t i = 0; i < out.samples.size(); ++i) {
    float sum = 0;
    for (std::size_t c = 0; c < channels; ++c) sum += interleaved[i * channels + c];
    out.samples[i] = sum / static_cast<float>(channels);
  }
  if (out.samples.empty()) throw InputError("expected audio samples, got an empty stream", what);
  return out;
}

std::string encode_wav_pcm16(const std::vector<float>& samples, int sample_rate) {
  Buffer buffer;
  SF_VIRTUAL_IO io = virtual_io();
  SF_INFO info{};
  info.samplerate = sample_rate;
  info.channels = 1;
  info.format = SF_FORMAT_WAV | SF_FORMAT_PCM_16;
  SNDFILE* file = sf_open_virtual(&io, SFM_WRITE, &info, &buffer);
  if (!file) throw Error(std::string("libsndfile cannot create a WAV: ") + sf_strerror(nullptr));
  std::vector<short> pcm(samples.size());
  for (std::size_t i = 0; i < samples.size(); ++i) {
    float v = std::clamp(samples[i], -1.0f, 1.0f);
    pcm[i] = static_cast<short>(std::lround(v * 32767.0f));
  }
  sf_count_t written = sf_write_short(file, pcm.data(), static_cast<sf_count_t>(pcm.size()));
  sf_close(file);
  if (written != static_cast<sf_count_t>(pcm.size())) {
    throw Error("libsndfile wrote " + std::to_string(written) + " of " +
                std::to_string(pcm.size()) + " samples to an in-memory WAV");
  }
  return buffer.bytes;
}

std::vector<float> resample(const std::vector<float>& samples, int from_rate, int to_rate) {
  if (from_rate == to_rate || samples.empty()) return samples;
  const double ratio = static_cast<double>(to_rate) / from_rate;
  std::vector<float> out(static_cast<std::size_t>(std::ceil(samples.size() * ratio)) + 16);
  SRC_DATA data{};
  data.data_in = samples.data();
  data.input_frames = static_cast<long>(samples.size());
  data.data_out = out.data();
  data.output_frames = static_cast<long>(out.size());
  data.src_ratio = ratio;
  int err = src_simple(&data, SRC_SINC_MEDIUM_QUALITY, 1);
  if (err != 0) {
    throw Error("libsamplerate cannot resample " + std::to_string(from_rate) + " Hz to " +
                std::to_string(to_rate) + " Hz: " + src_strerror(err));
  }
  out.resize(static_cast<std::size_t>(data.output_frames_gen));
  return out;
}

}  // namespace mmfuse::data::default_dataset
