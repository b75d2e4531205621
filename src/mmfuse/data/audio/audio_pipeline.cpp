#include "mmfuse/data/audio/audio_pipeline.h"

#include <algorithm>
#include <cmath>

#include "mmfuse/core/error.h"
#include "mmfuse/data/audio/yamnet_frontend.h"

namespace mmfuse::data::audio {

namespace {

const char* field_kind(const Field& f) {
  switch (f.index()) {
    case 0:
      return "an image";
    case 1:
      return "audio";
    case 2:
      return "text";
    default:
      return "numbers";
  }
}

const AudioRef& audio_ref(const Field& field) {
  const auto* ref = std::get_if<AudioRef>(&field);
  if (!ref) {
    throw InputError(std::string("expected an audio field (a path or {file, noise}), got ") +
                     field_kind(field));
  }
  return *ref;
}

double uniform(Rng& rng, std::pair<double, double> range) {
  return std::uniform_real_distribution<double>(range.first, range.second)(rng);
}

// Zero-filled shift by `shift` samples (positive: later).
void shift_samples(std::vector<float>& x, int64_t shift) {
  const auto n = static_cast<int64_t>(x.size());
  if (shift == 0) return;
  if (std::abs(shift) >= n) {
    std::fill(x.begin(), x.end(), 0.0f);
  } else if (shift > 0) {
    std::copy_backward(x.begin(), x.end() - shift, x.end());
    std::fill(x.begin(), x.begin() + shift, 0.0f);
  } else {
    std::copy(x.begin() - shift, x.end(), x.begin());
    std::fill(x.end() + shift, x.end(), 0.0f);
  }
}

// Up to `count` masks, each [0, max_width] wide, along `dim` of `t`, filled with `value`.
void mask_along(torch::Tensor& t, int64_t dim, int64_t count, int64_t max_width, float value,
                Rng& rng) {
  const int64_t len = t.size(dim);
  for (int64_t i = 0; i < count; ++i) {
    const int64_t w = std::min(len, std::uniform_int_distribution<int64_t>(0, max_width)(rng));
    const int64_t start = std::uniform_int_distribution<int64_t>(0, len - w)(rng);
    if (w > 0) t.narrow(dim, start, w).fill_(value);
  }
}

}  // namespace

std::shared_ptr<AudioPipeline> AudioPipeline::create(const PipelineContext& ctx,
                                                     const ConfigNode& cfg) {
  if (ctx.modality != Modality::audio) {
    cfg.fail("the audio pipeline reads audio files; it cannot serve the " +
             std::string(to_string(ctx.modality)) + " modality");
  }
  AudioOptions options = AudioOptions::parse(cfg, ctx.base_dir);
  options.limits = {ctx.limits.max_audio_seconds, ctx.limits.max_audio_bytes};
  return std::make_shared<AudioPipeline>(std::move(options));
}

AudioPipeline::AudioPipeline(AudioOptions options) : o_(std::move(options)) {
  if (o_.features == FeatureKind::logmel || o_.features == FeatureKind::mfcc) {
    filterbank_ = mel_filterbank(o_.stft.n_fft, o_.sample_rate, o_.mel);
  }
  if (o_.features == FeatureKind::mfcc) dct_ = dct_ortho(o_.n_mfcc, o_.mel.n_mels);
  if (o_.features == FeatureKind::yamnet) {
    filterbank_ = load_yamnet_mel_matrix(o_.mel_matrix);
    if (filterbank_.size(0) != o_.mel.n_mels) {
      throw Error(o_.mel_matrix + ": frontend.mel_matrix has " +
                  std::to_string(filterbank_.size(0)) + " bands, the pipeline's n_mels is " +
                  std::to_string(o_.mel.n_mels) + "; set n_mels to " +
                  std::to_string(filterbank_.size(0)));
    }
  }
}

std::string AudioPipeline::cache_key() const {
  return o_.extract_key();
}

std::vector<float> AudioPipeline::load_waveform(const AudioRef& ref) const {
  Waveform w =
      ref.bytes ? decode_audio(*ref.bytes, ref.path, o_.limits) : read_audio(ref.path, o_.limits);
  if (w.sample_rate != o_.sample_rate) {
    w.samples = resample(w.samples, w.sample_rate, o_.sample_rate, o_.resample_quality);
  }
  if (ref.noise) {
    auto noise = noise_cache_.get(ref.noise->path, o_.sample_rate, o_.resample_quality);
    mix_noise(w.samples, *noise, ref.noise->offset_s, ref.noise->snr_db, o_.sample_rate);
  }
  return std::move(w.samples);
}

torch::Tensor AudioPipeline::features_from_waveform(std::vector<float> x) const {
  if (o_.max_samples > 0) {
    const auto n = static_cast<std::size_t>(o_.max_samples);
    if (x.size() > n || !o_.variable_length) x.resize(n, 0.0f);
  }
  const auto n = static_cast<int64_t>(x.size());
  if (o_.features == FeatureKind::avmnist_spectrogram) {
    return avmnist_spectrogram(x.data(), n, o_.size);
  }
  torch::Tensor wave = torch::from_blob(x.data(), {n}, torch::kFloat);
  if (o_.features == FeatureKind::waveform) {
    return o_.variable_length ? wave.clone().unsqueeze(1) : wave.clone().unsqueeze(0);
  }
  if (o_.features == FeatureKind::yamnet) return yamnet_log_mel(wave, filterbank_);  // [T, F]
  torch::Tensor f;                                                                   // [F, T]
  if (o_.features == FeatureKind::spectrogram) {
    f = log_spectrogram(wave, o_.stft, o_.log_eps);
  } else {
    f = log_mel(stft_magnitude(wave, o_.stft, 2.0), filterbank_, o_.log, o_.log_eps);
    if (o_.features == FeatureKind::mfcc) f = mfcc(f, dct_);
  }
  return o_.variable_length ? f.t().contiguous() : f.unsqueeze(0).contiguous();
}

torch::Tensor AudioPipeline::extract(const Field& field) const {
  return features_from_waveform(load_waveform(audio_ref(field)));
}

torch::Tensor AudioPipeline::augment(const Field& field, const torch::Tensor& features,
                                     Rng& rng) const {
  const AugmentOptions& a = o_.augment;
  torch::Tensor out = features;
  if (a.waveform_level()) {
    std::vector<float> x = load_waveform(audio_ref(field));
    if (a.gain_db.first != 0.0 || a.gain_db.second != 0.0) {
      const auto gain = static_cast<float>(std::pow(10.0, uniform(rng, a.gain_db) / 20.0));
      for (auto& v : x) v *= gain;
    }
    if (a.time_shift_s > 0) {
      const double s = uniform(rng, {-a.time_shift_s, a.time_shift_s});
      shift_samples(x, std::llround(s * o_.sample_rate));
    }
    if (!a.noise_files.empty()) {
      const auto& file = a.noise_files[std::uniform_int_distribution<std::size_t>(
          0, a.noise_files.size() - 1)(rng)];
      auto noise = noise_cache_.get(file, o_.sample_rate, o_.resample_quality);
      const double offset_s = uniform(rng, {0.0, double(noise->size()) / o_.sample_rate});
      mix_noise(x, *noise, offset_s, uniform(rng, a.noise_snr_db), o_.sample_rate);
    }
    out = features_from_waveform(std::move(x));
  }
  if (a.spec_level()) {
    out = out.clone();
    const float value = out.mean().item<float>();
    const int64_t time_dim = o_.variable_length ? 0 : 2, freq_dim = 1;  // [T, F] or [1, F, T]
    mask_along(out, time_dim, a.spec_time_masks, a.spec_time_mask_max, value, rng);
    mask_along(out, freq_dim, a.spec_freq_masks, a.spec_freq_mask_max, value, rng);
  }
  return out;
}

torch::Tensor AudioPipeline::as_frames(const torch::Tensor& item) const {
  if (o_.variable_length) return item;                                     // [T, F]
  if (o_.features == FeatureKind::waveform) return item.reshape({-1, 1});  // [1, N] -> [N, 1]
  return item[0].t();                                                      // [1, F, T] -> [T, F]
}

std::vector<int64_t> AudioPipeline::bin_shape() const {
  const int64_t f = o_.feature_dim();
  if (o_.variable_length) return {1, f};
  if (o_.features == FeatureKind::waveform) return {1, 1};
  return {1, f, 1};
}

void AudioPipeline::fit(const FitContext& ctx) {
  if (o_.normalize != Normalize::standardize) return;
  if (ctx.size == 0) {
    throw Error("audio normalize: standardize needs training samples with audio; found none");
  }
  const int64_t f = o_.feature_dim();
  auto sum = torch::zeros({f}, torch::kDouble), sum_sq = torch::zeros({f}, torch::kDouble);
  int64_t frames = 0;
  for (std::size_t i = 0; i < ctx.size; ++i) {
    torch::Tensor x = as_frames(ctx.features(i)).to(torch::kDouble);  // [T, F]
    sum += x.sum(0);
    sum_sq += x.square().sum(0);
    frames += x.size(0);
  }
  auto mean = sum / static_cast<double>(frames);
  auto var = (sum_sq / static_cast<double>(frames) - mean.square()).clamp_min(0.0);
  mean_ = mean.to(torch::kFloat);
  std_ = var.sqrt().clamp_min(1e-6).to(torch::kFloat);
}

torch::Tensor AudioPipeline::finalize(const torch::Tensor& features) const {
  if (o_.normalize != Normalize::standardize) return features;
  if (!mean_.defined()) {
    throw Error(
        "audio normalize: standardize needs fit() on the training split (or "
        "load_state() of a saved model) before features are finalized");
  }
  return (features - mean_.view(bin_shape())) / std_.view(bin_shape());
}

ModalityBatch AudioPipeline::collate(const std::vector<torch::Tensor>& items) const {
  if (!o_.variable_length) return ModalityPipeline::collate(items);
  const auto batch = static_cast<int64_t>(items.size());
  const int64_t f = o_.feature_dim();
  int64_t longest = 1;
  for (const auto& t : items) {
    if (t.defined()) longest = std::max(longest, t.size(0));
  }
  auto data = torch::zeros({batch, longest, f}, torch::kFloat);
  auto present = torch::zeros({batch}, torch::kBool);
  auto lengths = torch::zeros({batch}, torch::kLong);
  for (int64_t b = 0; b < batch; ++b) {
    const auto& t = items[static_cast<std::size_t>(b)];
    if (!t.defined()) continue;
    if (t.dim() != 2 || t.size(1) != f) {
      throw Error("audio collate: expected items [T, " + std::to_string(f) + "], got " +
                  c10::str(t.sizes()) + "; were they made by this pipeline?");
    }
    data[b].narrow(0, 0, t.size(0)).copy_(t);
    present[b] = true;
    lengths[b] = t.size(0);
  }
  return {data, present, lengths};
}

std::vector<int64_t> AudioPipeline::item_shape() const {
  const int64_t f = o_.feature_dim();
  if (o_.features == FeatureKind::avmnist_spectrogram) return {1, o_.size, o_.size};
  if (o_.variable_length) return {-1, f};
  if (o_.features == FeatureKind::waveform) return {1, o_.max_samples};
  return {1, f, stft_frames(o_.max_samples, o_.stft)};
}

nlohmann::json AudioPipeline::state() const {
  nlohmann::json s = {{"settings", o_.extract_key()}, {"normalize", to_string(o_.normalize)}};
  if (mean_.defined()) {
    auto to_vec = [](const torch::Tensor& t) {
      auto c = t.contiguous();
      return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
    };
    s["mean"] = to_vec(mean_);
    s["std"] = to_vec(std_);
  }
  return s;
}

void AudioPipeline::load_state(const nlohmann::json& state) {
  if (o_.normalize != Normalize::standardize) return;
  const auto f = static_cast<std::size_t>(o_.feature_dim());
  auto read = [&](const char* key) {
    if (!state.contains(key) || !state[key].is_array() || state[key].size() != f) {
      throw Error(std::string("audio pipeline state: expected '") + key + "' with " +
                  std::to_string(f) + " numbers (one per feature bin), got " +
                  (state.contains(key) ? state[key].dump().substr(0, 80) : "nothing") +
                  "; was the model saved with the same audio settings?");
    }
    auto v = state[key].get<std::vector<float>>();
    return torch::tensor(v, torch::kFloat);
  };
  mean_ = read("mean");
  std_ = read("std");
}

}  // namespace mmfuse::data::audio
