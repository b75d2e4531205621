#include "mmfuse/data/video/make_video_dataset.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include <nlohmann/json.hpp>
#include <opencv2/imgproc.hpp>

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"
#include "mmfuse/data/audio/audio_io.h"
#include "mmfuse/data/image/image_io.h"
#include "mmfuse/data/manifest.h"
#include "mmfuse/data/video/video_writer.h"

namespace mmfuse::data::video {

namespace {

constexpr int kAvmnistRate = 8000;  // FSDD speech and the noise clips are 8 kHz
constexpr std::array<const char*, 10> kDigitWords = {"zero", "one", "two",   "three", "four",
                                                     "five", "six", "seven", "eight", "nine"};
constexpr std::array<const char*, 3> kVideoSplitNames = {"train", "val", "test"};

struct ClipJob {
  int split = 0;
  const Sample* source = nullptr;
  std::string id, rel_path;
  int label = 0;
  bool subtitles = false;
  uint64_t seed = 0;
};

struct ClipShared {
  const VideoDatasetOptions* opt = nullptr;
  std::string out_dir;
  image::IdxCache idx;
  audio::AudioCache noise;
};

// The digit drawn on a size x size black canvas at scale s (of its 28 px) centred at (cx, cy).
cv::Mat place_digit(const cv::Mat& digit, int size, double s, double cx, double cy) {
  cv::Mat m =
      (cv::Mat_<double>(2, 3) << s, 0, cx - s * digit.cols / 2.0, 0, s, cy - s * digit.rows / 2.0);
  cv::Mat out;
  cv::warpAffine(digit, out, m, cv::Size(size, size), cv::INTER_LINEAR, cv::BORDER_CONSTANT, 0);
  return out;
}

// The digit's path over the clip: scale s0 -> s1, centre (x0, y0) -> (x1, y1), inside the frame.
void write_clip_frames(VideoWriter& w, const cv::Mat& digit, const ClipJob& job, int size,
                       int frames) {
  std::mt19937_64 rng(job.seed);
  std::uniform_real_distribution<double> scale(0.7, 1.2);
  const double s0 = scale(rng), s1 = scale(rng);
  const double half = 14.0 * std::max(s0, s1);
  std::uniform_real_distribution<double> pos(half, size - half);
  const double x0 = pos(rng), y0 = pos(rng), x1 = pos(rng), y1 = pos(rng);
  for (int i = 0; i < frames; ++i) {
    const double u = frames > 1 ? static_cast<double>(i) / (frames - 1) : 0.0;
    w.add_frame(
        place_digit(digit, size, s0 + (s1 - s0) * u, x0 + (x1 - x0) * u, y0 + (y1 - y0) * u));
  }
}

std::string make_one_clip(const ClipJob& job, ClipShared& shared) {
  const VideoDatasetOptions& opt = *shared.opt;
  const auto& img_ref = std::get<ImageRef>(*job.source->field(Modality::image));
  image::ReadOptions gray;
  gray.channels = 1;
  cv::Mat pixels = image::read_image(img_ref, gray, shared.idx);  // float [0, 1]
  cv::Mat digit;
  pixels.convertTo(digit, CV_8U, 255.0);
  const auto& audio_ref = std::get<AudioRef>(*job.source->field(Modality::audio));
  audio::Waveform speech = audio::read_audio(audio_ref.path);
  if (speech.sample_rate != kAvmnistRate) {
    throw InputError("expected 8 kHz speech, got " + std::to_string(speech.sample_rate) + " Hz",
                     audio_ref.path);
  }
  if (audio_ref.noise) {
    const auto noise =
        shared.noise.get(audio_ref.noise->path, kAvmnistRate, audio::ResampleQuality::sinc_medium);
    audio::mix_noise(speech.samples, *noise, audio_ref.noise->offset_s, audio_ref.noise->snr_db,
                     kAvmnistRate);
  }
  const std::string path = resolve_path(shared.out_dir, job.rel_path);
  VideoWriterOptions wo;
  wo.width = wo.height = opt.size;
  wo.fps = opt.fps;
  wo.audio_rate = kAvmnistRate;
  wo.audio_bitrate = 24000;
  VideoWriter w(path, wo);
  write_clip_frames(w, digit, job, opt.size, opt.fps);
  w.set_audio(speech.samples);
  w.finish();
  if (job.subtitles) {
    std::filesystem::path srt(path);
    srt.replace_extension(".srt");
    write_file_atomic(srt.string(), std::string("1\n00:00:00,000 --> 00:00:01,000\n") +
                                        kDigitWords[static_cast<std::size_t>(job.label)] + "\n");
  }
  return w.video_encoder();
}

// Up to `n` samples of one AV-MNIST split, chosen by the seed, in manifest order.
std::vector<const Sample*> pick_samples(const std::vector<Sample>& all, int64_t n, uint64_t seed) {
  std::vector<std::size_t> order(all.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::mt19937_64 rng(seed);
  for (std::size_t i = order.size(); i > 1; --i) {
    std::swap(order[i - 1], order[rng() % i]);
  }
  order.resize(std::min<std::size_t>(order.size(), static_cast<std::size_t>(n)));
  std::sort(order.begin(), order.end());
  std::vector<const Sample*> out;
  for (std::size_t i : order) out.push_back(&all[i]);
  return out;
}

int sample_label(const Sample& s) {
  const auto it = s.targets.find("label");
  if (it == s.targets.end()) throw InputError("AV-MNIST sample without a label", s.manifest);
  return std::stoi(std::get<std::string>(it->second));
}

}  // namespace

std::string VideoDatasetSummary::format() const {
  std::ostringstream o;
  o << "clips: train " << clips[0] << ", val " << clips[1] << ", test " << clips[2] << " ("
    << with_subtitles << " with subtitles)\nvideo: " << video_encoder
    << " in MP4, sound: AAC 8 kHz mono\n";
  return o.str();
}

VideoDatasetSummary make_video_dataset(const std::string& out_dir, const VideoDatasetOptions& opt) {
  if (opt.limit < 1 || opt.fps < 1 || opt.size < 32 || opt.size % 2 || opt.threads < 1) {
    throw ConfigError("make-video expects limit >= 1, fps >= 1, an even size >= 32, threads >= 1");
  }
  ClipShared shared;
  shared.opt = &opt;
  shared.out_dir = out_dir;
  std::array<ManifestData, 3> sources;
  std::vector<ClipJob> jobs;
  const std::array<int64_t, 3> counts = {opt.limit, std::max<int64_t>(1, opt.limit / 5),
                                         std::max<int64_t>(1, opt.limit / 5)};
  std::mt19937_64 sub_rng(opt.seed ^ 0x5eb7u);
  for (int split = 0; split < 3; ++split) {
    const std::string name = kVideoSplitNames[static_cast<std::size_t>(split)];
    sources[split] = read_manifest(resolve_path(opt.avmnist_dir, name + ".jsonl"),
                                   ManifestSchema::all_modalities(), /*skip_bad=*/false);
    std::filesystem::create_directories(std::filesystem::path(out_dir) / "clips" / name);
    for (const Sample* s : pick_samples(sources[split].samples, counts[split],
                                        opt.seed * 31 + static_cast<uint64_t>(split))) {
      ClipJob job;
      job.split = split;
      job.source = s;
      job.id = s->id;
      job.rel_path = "clips/" + name + "/" + s->id + ".mp4";
      job.label = sample_label(*s);
      job.subtitles = std::uniform_real_distribution<double>(0, 1)(sub_rng) < opt.subtitle_fraction;
      job.seed = opt.seed * 1000003ULL + static_cast<uint64_t>(jobs.size());
      jobs.push_back(job);
    }
  }
  std::atomic<std::size_t> next{0};
  std::mutex mu;
  std::exception_ptr error;
  std::string encoder;
  auto worker = [&] {
    for (std::size_t i = next++; i < jobs.size(); i = next++) {
      try {
        std::string used = make_one_clip(jobs[i], shared);
        std::lock_guard<std::mutex> lock(mu);
        encoder = used;
      } catch (...) {
        std::lock_guard<std::mutex> lock(mu);
        if (!error) error = std::current_exception();
        next = jobs.size();
      }
    }
  };
  std::vector<std::thread> pool;
  for (int t = 0; t < opt.threads; ++t) pool.emplace_back(worker);
  for (auto& t : pool) t.join();
  if (error) std::rethrow_exception(error);

  VideoDatasetSummary summary;
  summary.video_encoder = encoder;
  std::array<std::string, 3> lines;
  for (const auto& job : jobs) {
    nlohmann::json j = {{"id", job.id}, {"video", job.rel_path}, {"label", job.label}};
    lines[job.split] += j.dump() + "\n";
    ++summary.clips[job.split];
    if (job.subtitles) ++summary.with_subtitles;
  }
  for (int split = 0; split < 3; ++split) {
    write_file_atomic(resolve_path(out_dir, std::string(kVideoSplitNames[split]) + ".jsonl"),
                      lines[split]);
  }
  write_file_atomic(
      resolve_path(out_dir, "README.md"),
      "# AV-MNIST video clips\n\nMade by `mmfuse data make-video --seed " +
          std::to_string(opt.seed) + " --limit " + std::to_string(opt.limit) +
          "` from AV-MNIST (../shared/data/avmnist).\n\nEach clip: the sample's digit image moving "
          "and scaling over 1 s (" +
          std::to_string(opt.fps) + " fps, " + std::to_string(opt.size) + "x" +
          std::to_string(opt.size) + ", " + encoder +
          " in MP4) with its spoken digit mixed with its noise at its SNR (AAC, 8 kHz mono). "
          "About " +
          std::to_string(static_cast<int>(opt.subtitle_fraction * 100)) +
          "% of clips have `<id>.srt` with the digit's word. The test split is made of AV-MNIST "
          "test samples (test speakers' takes and test noise clips).\n\n"
          "Manifest lines: `{\"id\", \"video\": \"clips/<split>/<id>.mp4\", \"label\"}`.\n");
  return summary;
}

}  // namespace mmfuse::data::video
