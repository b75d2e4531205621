#include "mmfuse/data/audio/audio_options.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <sstream>
#include <string_view>

#include "mmfuse/core/fs.h"

namespace mmfuse::data::audio {

namespace {

template <class E, std::size_t N>
using NameTable = std::array<std::pair<std::string_view, E>, N>;

constexpr NameTable<FeatureKind, 6> kFeatureNames = {{
    {"avmnist_spectrogram", FeatureKind::avmnist_spectrogram},
    {"spectrogram", FeatureKind::spectrogram},
    {"logmel", FeatureKind::logmel},
    {"mfcc", FeatureKind::mfcc},
    {"waveform", FeatureKind::waveform},
    {"yamnet", FeatureKind::yamnet},
}};
constexpr NameTable<Normalize, 2> kNormalizeNames = {
    {{"none", Normalize::none}, {"standardize", Normalize::standardize}}};
constexpr NameTable<MelScale, 2> kMelScaleNames = {
    {{"htk", MelScale::htk}, {"slaney", MelScale::slaney}}};
constexpr NameTable<MelNorm, 2> kMelNormNames = {
    {{"none", MelNorm::none}, {"slaney", MelNorm::slaney}}};
constexpr NameTable<LogKind, 2> kLogNames = {{{"natural", LogKind::natural}, {"db", LogKind::db}}};

template <class E, std::size_t N>
std::string_view name_of(E value, const NameTable<E, N>& table) {
  for (const auto& [name, v] : table) {
    if (v == value) return name;
  }
  return "?";
}

template <class E, std::size_t N>
E parse_enum(const ConfigNode& node, const NameTable<E, N>& table, E fallback) {
  if (node.is_null()) return fallback;
  const auto name = node.as<std::string>();
  std::string known;
  for (const auto& [n, v] : table) {
    if (n == name) return v;
    known += (known.empty() ? "" : ", ") + std::string(n);
  }
  node.fail("unknown value '" + name + "'; expected one of: " + known);
}

std::pair<double, double> parse_range(const ConfigNode& node, std::pair<double, double> fallback) {
  if (node.is_null()) return fallback;
  const auto v = node.as<std::vector<double>>();
  if (v.size() != 2 || !(v[0] <= v[1]) || !std::isfinite(v[0]) || !std::isfinite(v[1])) {
    node.fail("expected a range [lo, hi] with lo <= hi, e.g. [-6, 6]");
  }
  return {v[0], v[1]};
}

template <class T>
T at_least(const ConfigNode& cfg, const std::string& key, T fallback, T min = T(1)) {
  const T v = cfg.get<T>(key, fallback);
  if (!(v >= min)) {
    std::ostringstream ss;
    ss << "expected a value >= " << min << ", got " << v;
    cfg[key].fail(ss.str());
  }
  return v;
}

AugmentOptions parse_augment(const ConfigNode& a, const std::string& base_dir, FeatureKind kind) {
  AugmentOptions o;
  if (a.is_null()) return o;
  if (!a.is_map())
    a.fail("expected a map of augmentations (gain_db, time_shift_s, noise_dir, ...)");
  a.check_keys({"gain_db", "time_shift_s", "noise_dir", "noise_snr_db", "spec_time_masks",
                "spec_time_mask_max", "spec_freq_masks", "spec_freq_mask_max"});
  o.gain_db = parse_range(a["gain_db"], o.gain_db);
  o.time_shift_s = at_least<double>(a, "time_shift_s", 0.0, 0.0);
  if (a.has("noise_dir")) {
    o.noise_dir = resolve_path(base_dir, a.get<std::string>("noise_dir"));
    if (!std::filesystem::is_directory(o.noise_dir)) {
      a["noise_dir"].fail("folder '" + o.noise_dir + "' does not exist; give a folder of noise " +
                          "WAV/FLAC/OGG files (relative paths resolve against the spec's folder)");
    }
    for (const auto& entry : std::filesystem::directory_iterator(o.noise_dir)) {
      std::string ext = entry.path().extension().string();
      for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (entry.is_regular_file() && (ext == ".wav" || ext == ".flac" || ext == ".ogg")) {
        o.noise_files.push_back(entry.path().string());
      }
    }
    std::sort(o.noise_files.begin(), o.noise_files.end());
    if (o.noise_files.empty()) {
      a["noise_dir"].fail("folder '" + o.noise_dir + "' has no .wav, .flac or .ogg files");
    }
  } else if (a.has("noise_snr_db")) {
    a["noise_snr_db"].fail("noise_snr_db needs noise_dir (the folder of noise files to mix in)");
  }
  o.noise_snr_db = parse_range(a["noise_snr_db"], o.noise_snr_db);
  o.spec_time_masks = at_least<int64_t>(a, "spec_time_masks", 0, 0);
  o.spec_time_mask_max = at_least<int64_t>(a, "spec_time_mask_max", 0, 0);
  o.spec_freq_masks = at_least<int64_t>(a, "spec_freq_masks", 0, 0);
  o.spec_freq_mask_max = at_least<int64_t>(a, "spec_freq_mask_max", 0, 0);
  if (kind == FeatureKind::waveform && o.spec_level()) {
    a.fail("SpecAugment masks need spectrogram-like features, got features: waveform");
  }
  return o;
}

// features: yamnet fixes everything but the mel matrix file (and the bands it holds).
void parse_yamnet(const ConfigNode& cfg, const std::string& base_dir, AudioOptions& o) {
  if (!cfg.has("mel_matrix")) {
    cfg.fail(
        "features: yamnet needs mel_matrix: the YAMNet safetensors file holding "
        "frontend.mel_matrix (e.g. ../shared/pretrained/yamnet_audioset.safetensors)");
  }
  o.mel_matrix = resolve_path(base_dir, cfg.get<std::string>("mel_matrix"));
  if (o.sample_rate != 16000) cfg["sample_rate"].fail("YAMNet's front end runs at 16000 Hz");
  if (!o.variable_length) {
    cfg.fail("features: yamnet gives frames of any length; remove max_seconds and variable_length");
  }
  for (const char* key : {"n_fft", "hop", "win", "fmin", "fmax", "mel_scale", "mel_norm", "log"}) {
    if (cfg.has(key)) cfg[key].fail("features: yamnet fixes this setting; remove it");
  }
}

}  // namespace

std::string_view to_string(FeatureKind k) {
  return name_of(k, kFeatureNames);
}
std::string_view to_string(Normalize n) {
  return name_of(n, kNormalizeNames);
}

AudioOptions AudioOptions::parse(const ConfigNode& cfg, const std::string& base_dir) {
  AudioOptions o;
  if (cfg.is_null()) cfg.fail("missing audio settings (an empty map gives the defaults)");
  if (!cfg.is_map()) cfg.fail("expected a map of audio settings");
  cfg.check_keys({"sample_rate", "resample_quality", "features", "n_fft", "hop", "win", "n_mels",
                  "n_mfcc", "fmin", "fmax", "mel_scale", "mel_norm", "log", "size", "max_seconds",
                  "variable_length", "normalize", "augment", "mel_matrix"});
  o.features = parse_enum(cfg["features"], kFeatureNames, FeatureKind::logmel);
  const bool avmnist = o.features == FeatureKind::avmnist_spectrogram;
  o.sample_rate = at_least<int>(cfg, "sample_rate", avmnist ? 8000 : 16000);
  if (cfg.has("resample_quality")) {
    const auto name = cfg.get<std::string>("resample_quality");
    if (!resample_quality_from_string(name, &o.resample_quality)) {
      cfg["resample_quality"].fail("unknown value '" + name +
                                   "'; expected one of: " + resample_quality_names());
    }
  }
  o.stft.n_fft = at_least<int64_t>(cfg, "n_fft", 400, 2);
  o.stft.hop = at_least<int64_t>(cfg, "hop", o.stft.n_fft / 4);
  o.stft.win = at_least<int64_t>(cfg, "win", o.stft.n_fft);
  if (o.stft.win > o.stft.n_fft)
    cfg["win"].fail("expected win <= n_fft (" + std::to_string(o.stft.n_fft) + ")");
  o.mel.n_mels = at_least<int64_t>(cfg, "n_mels", 64);
  o.mel.fmin = at_least<double>(cfg, "fmin", 0.0, 0.0);
  o.mel.fmax = at_least<double>(cfg, "fmax", o.sample_rate / 2.0, 1e-9);
  if (o.mel.fmax > o.sample_rate / 2.0 || o.mel.fmax <= o.mel.fmin) {
    cfg[cfg.has("fmax") ? "fmax" : "fmin"].fail("expected fmin < fmax <= sample_rate / 2 (" +
                                                std::to_string(o.sample_rate / 2) + " Hz)");
  }
  o.mel.scale = parse_enum(cfg["mel_scale"], kMelScaleNames, MelScale::htk);
  o.mel.norm = parse_enum(cfg["mel_norm"], kMelNormNames, MelNorm::none);
  o.log = parse_enum(cfg["log"], kLogNames, LogKind::natural);
  o.log_eps = o.log == LogKind::natural ? 1e-6 : 1e-10;
  o.n_mfcc = at_least<int64_t>(cfg, "n_mfcc", std::min<int64_t>(13, o.mel.n_mels));
  if (o.n_mfcc > o.mel.n_mels)
    cfg["n_mfcc"].fail("expected n_mfcc <= n_mels (" + std::to_string(o.mel.n_mels) + ")");
  o.size = at_least<int64_t>(cfg, "size", 112, 2);
  // Without max_seconds, clips keep their length (frames [T, F] padded per batch).
  o.variable_length = cfg.get<bool>("variable_length", !avmnist && !cfg.has("max_seconds"));
  if (avmnist && o.variable_length) {
    cfg["variable_length"].fail(
        "avmnist_spectrogram is always [1, size, size]; remove variable_length");
  }
  if (cfg.has("max_seconds")) {
    const double s = at_least<double>(cfg, "max_seconds", 0.0, 1e-9);
    o.max_samples = std::max<int64_t>(1, std::llround(s * o.sample_rate));
  } else if (!avmnist && !o.variable_length) {
    cfg.fail(
        "fixed-size audio features need max_seconds (clips are padded/trimmed to it); "
        "or set variable_length: true");
  }
  if (o.features == FeatureKind::yamnet) parse_yamnet(cfg, base_dir, o);
  o.normalize = parse_enum(cfg["normalize"], kNormalizeNames, Normalize::none);
  o.augment = parse_augment(cfg["augment"], base_dir, o.features);
  return o;
}

int64_t AudioOptions::feature_dim() const {
  switch (features) {
    case FeatureKind::avmnist_spectrogram:
      return size;
    case FeatureKind::spectrogram:
      return stft.n_fft / 2 + 1;
    case FeatureKind::logmel:
    case FeatureKind::yamnet:
      return mel.n_mels;
    case FeatureKind::mfcc:
      return n_mfcc;
    case FeatureKind::waveform:
      return 1;
  }
  return 1;
}

std::string AudioOptions::extract_key() const {
  std::ostringstream ss;
  ss.precision(17);
  ss << "audio/v1 features=" << to_string(features) << " sr=" << sample_rate
     << " resample=" << to_string(resample_quality) << " n_fft=" << stft.n_fft
     << " hop=" << stft.hop << " win=" << stft.win << " n_mels=" << mel.n_mels
     << " fmin=" << mel.fmin << " fmax=" << mel.fmax
     << " mel_scale=" << name_of(mel.scale, kMelScaleNames)
     << " mel_norm=" << name_of(mel.norm, kMelNormNames) << " log=" << name_of(log, kLogNames)
     << " eps=" << log_eps << " n_mfcc=" << n_mfcc << " size=" << size
     << " max_samples=" << max_samples << " variable=" << variable_length;
  if (features == FeatureKind::yamnet) ss << " mel_matrix=" << mel_matrix;
  return ss.str();
}

}  // namespace mmfuse::data::audio
