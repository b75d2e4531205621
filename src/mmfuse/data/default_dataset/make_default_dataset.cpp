#include "mmfuse/data/default_dataset/make_default_dataset.h"

#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>
#include <sstream>

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"
#include "mmfuse/data/default_dataset/dataset_readme.h"
#include "mmfuse/data/default_dataset/wav_buffer.h"

namespace mmfuse::data::default_dataset {

namespace {

// Everything drawn for one sample before any file is written.
struct PlannedSample {
  std::string id;
  uint64_t index = 0;  ///< over all splits; seeds the sample's random streams
  int label = 0;
  std::optional<std::size_t> source_row;  ///< image: sklearn digit row
  std::string image_file;
  std::optional<std::size_t> utterance;  ///< audio: speech bank entry
  std::size_t noise_clip = 0;
  double noise_offset_s = 0, snr_db = 0;
  DrawnText text;
};

// x rounded to `decimals` places (divides last, so 0.47 prints as 0.47).
double round_to(double x, int decimals) {
  const double scale = std::pow(10.0, decimals);
  return std::round(x * scale) / scale;
}

void require(bool ok, const std::string& field, const std::string& message) {
  if (!ok) throw ConfigError("default_dataset." + field + ": " + message);
}

std::array<int64_t, kNumSplits> split_sizes(const DefaultDatasetOptions& o) {
  const auto val = static_cast<int64_t>(std::llround(o.samples * o.val_fraction));
  const auto test = static_cast<int64_t>(std::llround(o.samples * o.test_fraction));
  return {o.samples - val - test, val, test};
}

std::string path_in(const std::string& dir, const std::string& relative) {
  return resolve_path(dir, relative);
}

nlohmann::ordered_json manifest_line(const PlannedSample& s, const SpeechBank& bank,
                                     const std::vector<NoiseClip>& noise) {
  nlohmann::ordered_json j;
  j["id"] = s.id;
  j["label"] = s.label;
  j["value"] = static_cast<double>(s.label);
  if (s.source_row) j["image"] = s.image_file;
  if (s.utterance) {
    j["audio"] = {{"file", bank.utterances[*s.utterance].file},
                  {"noise",
                   {{"file", noise[s.noise_clip].file},
                    {"offset_s", s.noise_offset_s},
                    {"snr_db", s.snr_db}}}};
  }
  if (s.text.text) j["text"] = *s.text.text;
  return j;
}

}  // namespace

void DefaultDatasetOptions::validate() const {
  require(samples >= 10, "samples", "expected at least 10 samples, got " + std::to_string(samples));
  require(val_fraction > 0 && test_fraction > 0 && val_fraction + test_fraction < 0.9,
          "val_fraction", "expected val and test fractions > 0 with a sum below 0.9");
  const auto sizes = split_sizes(*this);
  require(sizes[1] >= 1 && sizes[2] >= 1, "samples",
          "too few samples for non-empty val and test splits; use more samples");
  require(threads >= 1, "threads", "expected at least 1 thread, got " + std::to_string(threads));
  require(min_snr_db <= max_snr_db, "min_snr_db", "expected min_snr_db <= max_snr_db");
  for (auto [p, name] : {std::pair{image_absent_prob, "image_absent_prob"},
                         {audio_absent_prob, "audio_absent_prob"},
                         {text.absent_prob, "text.absent_prob"},
                         {text.typo_prob, "text.typo_prob"},
                         {image.blur_prob, "image.blur_prob"},
                         {image.occlusion_prob, "image.occlusion_prob"},
                         {speech.english_share, "speech.english_share"}}) {
    require(p >= 0 && p <= 1, name, "expected a probability in [0, 1], got " + std::to_string(p));
  }
  for (Split s : kAllSplits) {
    require(speech.voices_per_split[index_of(s)] >= 1, "speech.voices_per_split",
            "expected at least one voice per split");
  }
  require(image.min_scale > 0 && image.min_scale <= image.max_scale, "image.min_scale",
          "expected 0 < min_scale <= max_scale");
  require(image.min_noise_std >= 0 && image.min_noise_std <= image.max_noise_std,
          "image.min_noise_std", "expected 0 <= min_noise_std <= max_noise_std");
  require(speech.sample_rate >= 4000, "speech.sample_rate", "expected at least 4000 Hz");
  require(noise.seconds >= 1, "noise.seconds", "expected at least 1 second of noise");
}

namespace {

using DigitPool = std::array<std::vector<std::size_t>, 10>;  ///< digit rows by label

// Sample i of `split` (label drawn already, `global` its index over all splits): its image,
// audio and text draws, each from the sample's own random stream.
PlannedSample plan_sample(const DefaultDatasetOptions& o, Split split, std::size_t i, int label,
                          uint64_t global, const DigitPool& pool, const SpeechBank& bank,
                          std::discrete_distribution<int>& pick_kind) {
  const std::size_t si = index_of(split);
  PlannedSample s;
  char name[32];
  std::snprintf(name, sizeof name, "%05zu", i);
  s.id = std::string(to_string(split)) + "-" + name;
  s.label = label;
  s.index = global;
  Rng image_rng = stream_rng(o.seed, Stream::image, global);
  if (!bernoulli(image_rng, o.image_absent_prob)) {
    const auto& candidates = pool[s.label];
    if (candidates.empty()) {
      throw InputError("no digit " + std::to_string(s.label) + " in the " +
                           std::string(to_string(split)) + " rows of the digits CSV",
                       o.digits_csv);
    }
    s.source_row = candidates[uniform_int(image_rng, 0, static_cast<int>(candidates.size()) - 1)];
    s.image_file = "images/" + std::string(to_string(split)) + "/" + name + ".png";
  }
  Rng audio_rng = stream_rng(o.seed, Stream::audio, global);
  if (!bernoulli(audio_rng, o.audio_absent_prob)) {
    const auto& utterances = bank.index[si][s.label];
    s.utterance = utterances[uniform_int(audio_rng, 0, static_cast<int>(utterances.size()) - 1)];
    const auto kind = static_cast<std::size_t>(pick_kind(audio_rng));
    s.noise_clip = static_cast<std::size_t>(noise_group(split)) * kNumNoiseKinds + kind;
    s.noise_offset_s = round_to(uniform(audio_rng, 0.0, o.noise.seconds), 3);
    s.snr_db = round_to(uniform(audio_rng, o.min_snr_db, o.max_snr_db), 2);
  }
  Rng text_rng = stream_rng(o.seed, Stream::text, global);
  s.text = draw_text(s.label, o.text, text_rng);
  return s;
}

void count_sample(SplitSummary& sum, const PlannedSample& s, const SpeechBank& bank) {
  ++sum.samples;
  ++sum.per_class[s.label];
  sum.images += s.source_row.has_value();
  if (s.utterance) {
    ++sum.audios;
    ++sum.audio_languages[index_of(bank.utterances[*s.utterance].voice.language)];
  }
  if (s.text.text) {
    ++sum.texts;
    ++sum.text_languages[index_of(s.text.language)];
    sum.texts_with_typos += s.text.typos > 0;
  }
}

using Plan = std::array<std::vector<PlannedSample>, kNumSplits>;

// Every sample of every split: balanced labels shuffled per split, then per-sample draws.
Plan plan_samples(const DefaultDatasetOptions& o, const std::array<DigitPool, kNumSplits>& pool,
                  const SpeechBank& bank, DefaultDatasetSummary& summary) {
  const auto sizes = split_sizes(o);
  Plan plan;
  std::discrete_distribution<int> pick_kind(o.noise.kind_weights.begin(),
                                            o.noise.kind_weights.end());
  uint64_t global = 0;
  for (Split split : kAllSplits) {
    const std::size_t si = index_of(split);
    std::vector<int> labels(static_cast<std::size_t>(sizes[si]));
    for (std::size_t i = 0; i < labels.size(); ++i) labels[i] = static_cast<int>(i % 10);
    Rng label_rng = stream_rng(o.seed, Stream::labels, si);
    std::shuffle(labels.begin(), labels.end(), label_rng);
    for (std::size_t i = 0; i < labels.size(); ++i, ++global) {
      PlannedSample s = plan_sample(o, split, i, labels[i], global, pool[si], bank, pick_kind);
      count_sample(summary.splits[si], s, bank);
      plan[si].push_back(std::move(s));
    }
  }
  return plan;
}

// The speech bank's and the noise clips' WAV files, then each planned image's PNG.
void write_media(const std::string& out_dir, const DefaultDatasetOptions& o,
                 const std::vector<SourceDigit>& digits, const SpeechBank& bank,
                 const std::vector<NoiseClip>& noise, const Plan& plan) {
  parallel_for(bank.utterances.size() + noise.size(), o.threads, [&](std::size_t i) {
    if (i < bank.utterances.size()) {
      const auto& u = bank.utterances[i];
      write_file_atomic(path_in(out_dir, u.file),
                        encode_wav_pcm16(u.samples, o.speech.sample_rate));
    } else {
      const auto& c = noise[i - bank.utterances.size()];
      write_file_atomic(path_in(out_dir, c.file),
                        encode_wav_pcm16(c.samples, o.speech.sample_rate));
    }
  });
  std::vector<const PlannedSample*> with_image;
  for (const auto& split_plan : plan) {
    for (const auto& s : split_plan) {
      if (s.source_row) with_image.push_back(&s);
    }
  }
  parallel_for(with_image.size(), std::max(o.threads, 4), [&](std::size_t i) {
    const PlannedSample& s = *with_image[i];
    Rng rng = stream_rng(o.seed, Stream::render, s.index);
    write_file_atomic(path_in(out_dir, s.image_file),
                      encode_png(render_digit(digits[*s.source_row], o.image, rng)));
  });
}

}  // namespace

DefaultDatasetSummary make_default_dataset(const std::string& out_dir,
                                           const DefaultDatasetOptions& o) {
  o.validate();
  const std::vector<SourceDigit> digits = load_sklearn_digits(o.digits_csv);
  check_espeak(o.speech.espeak);
  const auto rows = split_digit_rows(digits.size());

  DefaultDatasetSummary summary;
  summary.out_dir = out_dir;
  summary.seed = o.seed;
  std::array<DigitPool, kNumSplits> pool;  // source digits of each split by label
  for (Split s : kAllSplits) {
    for (std::size_t r : rows[index_of(s)]) pool[index_of(s)][digits[r].label].push_back(r);
    summary.splits[index_of(s)].source_digits = static_cast<int64_t>(rows[index_of(s)].size());
  }

  const auto start = std::chrono::steady_clock::now();
  auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  const SpeechBank bank = build_speech_bank(o.speech, o.seed, o.threads);
  spdlog::debug("speech bank: {} utterances in {:.1f} s", bank.utterances.size(), elapsed());
  const std::vector<NoiseClip> noise = build_noise(o.noise, o.speech, o.seed, o.threads);
  spdlog::debug("noise: {} clips at {:.1f} s", noise.size(), elapsed());
  for (const auto& u : bank.utterances) ++summary.splits[index_of(u.split)].utterances;
  summary.noise_clips = static_cast<int64_t>(noise.size());

  const Plan plan = plan_samples(o, pool, bank, summary);
  // Files: audio and images, then the spec, README and finally the manifests.
  write_media(out_dir, o, digits, bank, noise, plan);
  spdlog::debug("audio and image files written at {:.1f} s", elapsed());
  write_file_atomic(path_in(out_dir, "dataset.yaml"), dataset_yaml(o));
  write_file_atomic(path_in(out_dir, "README.md"), dataset_readme(o, summary));
  for (Split split : kAllSplits) {
    std::string text;
    for (const auto& s : plan[index_of(split)]) {
      text += manifest_line(s, bank, noise).dump() + "\n";
    }
    write_file_atomic(path_in(out_dir, std::string(to_string(split)) + ".jsonl"), text);
  }
  return summary;
}

}  // namespace mmfuse::data::default_dataset
