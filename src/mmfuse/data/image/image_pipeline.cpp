#include "mmfuse/data/image/image_pipeline.h"

#include <cmath>

#include "mmfuse/core/error.h"

namespace mmfuse::data::image {

namespace {

const std::vector<std::pair<Normalize, std::string>>& normalize_names() {
  static const std::vector<std::pair<Normalize, std::string>> names = {
      {Normalize::none, "none"}, {Normalize::fixed, "fixed"}, {Normalize::fit, "fit"}};
  return names;
}

// One value per channel from a list of 1 (broadcast) or `channels` numbers.
std::vector<float> per_channel(const ConfigNode& node, int channels, bool positive) {
  std::vector<float> v;
  if (node.is_scalar()) {
    v.push_back(node.as<float>());
  } else if (node.is_sequence()) {
    for (std::size_t i = 0; i < node.size(); ++i) v.push_back(node.at(i).as<float>());
  }
  if (v.size() != 1 && v.size() != static_cast<std::size_t>(channels)) {
    node.fail("expected 1 or " + std::to_string(channels) + " numbers (one per channel), got " +
              std::to_string(v.size()));
  }
  for (float x : v) {
    if (!std::isfinite(x) || (positive && x <= 0))
      node.fail(positive ? "expected positive numbers" : "expected finite numbers");
  }
  v.resize(static_cast<std::size_t>(channels), v[0]);
  return v;
}

std::string field_kind(const Field& f) {
  static const char* kinds[] = {"an image", "an audio reference", "text", "a list of numbers"};
  return kinds[f.index()];
}

std::string join(const std::vector<float>& v) {
  std::string s;
  for (float x : v) s += (s.empty() ? "" : ",") + std::to_string(x);
  return s;
}

}  // namespace

std::string to_string(Normalize n) {
  for (const auto& [value, name] : normalize_names()) {
    if (value == n) return name;
  }
  return "none";
}

Normalize normalize_from_string(const std::string& name, const ConfigNode& cfg) {
  std::string known;
  for (const auto& [value, n] : normalize_names()) {
    if (n == name) return value;
    known += (known.empty() ? "" : ", ") + n;
  }
  cfg.fail("unknown normalization '" + name + "'; known: " + known);
}

ImageOptions ImageOptions::parse(const ConfigNode& cfg) {
  ImageOptions o;
  if (cfg.is_null()) return o;
  cfg.check_keys({"channels", "size", "background", "normalize", "mean", "std", "augment"});
  o.read.channels = cfg.get<int>("channels", 3);
  if (o.read.channels != 1 && o.read.channels != 3)
    cfg["channels"].fail("expected 1 (gray) or 3 (RGB), got " + std::to_string(o.read.channels));
  if (cfg.has("size")) {
    auto s = cfg["size"];
    if (!s.is_sequence() || s.size() != 2) s.fail("expected [H, W], e.g. [28, 28]");
    o.height = s.at(0).as<int>();
    o.width = s.at(1).as<int>();
    if (o.height <= 0 || o.width <= 0 || o.height > 8192 || o.width > 8192)
      s.fail("expected sizes in 1..8192, got [" + std::to_string(o.height) + ", " +
             std::to_string(o.width) + "]");
  }
  if (cfg.has("background")) {
    auto b = cfg["background"];
    if (b.is_scalar() && b.as<std::string>() == "drop") {
      o.read.background.reset();
    } else {
      auto v = per_channel(b, 3, /*positive=*/false);
      for (float x : v) {
        if (x < 0 || x > 1) b.fail("expected RGB in [0, 1] (e.g. [1, 1, 1] for white) or `drop`");
      }
      o.read.background = std::array<float, 3>{v[0], v[1], v[2]};
    }
  }
  o.normalize = normalize_from_string(cfg.get<std::string>("normalize", "none"), cfg["normalize"]);
  const bool given = cfg.has("mean") || cfg.has("std");
  if (o.normalize == Normalize::fixed) {
    o.mean = per_channel(cfg["mean"], o.read.channels, false);
    o.stddev = per_channel(cfg["std"], o.read.channels, true);
  } else if (given) {
    cfg["normalize"].fail("mean/std are only used with `normalize: fixed` (got `normalize: " +
                          to_string(o.normalize) + "`); remove them or set normalize: fixed");
  }
  o.augment = AugmentOptions::parse(cfg["augment"]);
  return o;
}

std::shared_ptr<ImagePipeline> ImagePipeline::create(const PipelineContext& ctx,
                                                     const ConfigNode& cfg) {
  ImageOptions options = ImageOptions::parse(cfg);
  options.read.max_pixels = ctx.limits.max_image_pixels;
  return std::make_shared<ImagePipeline>(std::move(options));
}

ImagePipeline::ImagePipeline(ImageOptions options) : opt_(std::move(options)) {
  if (opt_.normalize == Normalize::fixed) set_stats(opt_.mean, opt_.stddev);
}

void ImagePipeline::set_stats(std::vector<float> mean, std::vector<float> sd) {
  const auto c = static_cast<int64_t>(mean.size());
  mean_ = std::move(mean);
  std_ = std::move(sd);
  mean_t_ = torch::tensor(mean_).reshape({c, 1, 1});
  std_t_ = torch::tensor(std_).reshape({c, 1, 1});
}

std::string ImagePipeline::cache_key() const {
  std::string bg = opt_.read.background
                       ? join({(*opt_.read.background)[0], (*opt_.read.background)[1],
                               (*opt_.read.background)[2]})
                       : "drop";
  return "image/v1;channels=" + std::to_string(opt_.read.channels) +
         ";size=" + std::to_string(opt_.height) + "x" + std::to_string(opt_.width) +
         ";background=" + bg;
}

void ImagePipeline::fit(const FitContext& ctx) {
  if (opt_.normalize != Normalize::fit) return;
  if (ctx.size == 0) {
    throw Error(
        "cannot fit image normalization: the training split has no images; use "
        "`normalize: fixed` with mean/std or `normalize: none`");
  }
  const int64_t c = opt_.read.channels;
  auto sum = torch::zeros({c}, torch::kDouble), sum_sq = torch::zeros({c}, torch::kDouble);
  double count = 0;
  for (std::size_t i = 0; i < ctx.size; ++i) {
    torch::Tensor x = ctx.features(i).to(torch::kDouble).reshape({c, -1});  // [C, H*W]
    sum += x.sum(1);
    sum_sq += (x * x).sum(1);
    count += static_cast<double>(x.size(1));
  }
  auto mean = sum / count;
  auto sd = (sum_sq / count - mean * mean).clamp_min(0).sqrt();
  std::vector<float> m(static_cast<std::size_t>(c)), s(static_cast<std::size_t>(c));
  for (int64_t k = 0; k < c; ++k) {
    m[k] = static_cast<float>(mean[k].item<double>());
    const double v = sd[k].item<double>();
    s[k] = v > 1e-12 ? static_cast<float>(v) : 1.f;
  }
  set_stats(std::move(m), std::move(s));
}

torch::Tensor ImagePipeline::extract(const Field& field) const {
  const auto* ref = std::get_if<ImageRef>(&field);
  if (!ref) {
    throw InputError(
        "the image pipeline expected an image (a file, or {file, index} of an IDX "
        "file), got " +
        field_kind(field));
  }
  cv::Mat img = read_image(*ref, opt_.read, *idx_);
  if (opt_.height > 0) img = resize_image(img, opt_.height, opt_.width);
  if (!img.isContinuous()) img = img.clone();
  const int64_t h = img.rows, w = img.cols, c = img.channels();
  // H x W x C -> [C, H, W], owning its memory.
  return torch::from_blob(img.data, {h, w, c}, torch::kFloat)
      .permute({2, 0, 1})
      .clone(torch::MemoryFormat::Contiguous);
}

torch::Tensor ImagePipeline::augment(const Field& field, const torch::Tensor& features,
                                     Rng& rng) const {
  return augment_image(features, opt_.augment, rng);
}

torch::Tensor ImagePipeline::finalize(const torch::Tensor& features) const {
  if (opt_.normalize == Normalize::none) return features;
  if (!mean_t_.defined()) {
    throw Error(
        "image normalization is not fitted: call fit() on the training split or "
        "load_state() from a saved model first");
  }
  if (features.dim() != 3 || features.size(0) != mean_t_.size(0)) {
    throw Error("image finalize expected [" + std::to_string(mean_t_.size(0)) +
                ", H, W] features, got " + c10::str(features.sizes()));
  }
  return (features - mean_t_) / std_t_;
}

std::vector<int64_t> ImagePipeline::item_shape() const {
  const int64_t h = opt_.height > 0 ? opt_.height : -1, w = opt_.width > 0 ? opt_.width : -1;
  return {opt_.read.channels, h, w};
}

nlohmann::json ImagePipeline::state() const {
  nlohmann::json j = {{"normalize", to_string(opt_.normalize)},
                      {"channels", opt_.read.channels},
                      {"size", {opt_.height, opt_.width}}};
  if (!mean_.empty()) {
    j["mean"] = mean_;
    j["std"] = std_;
  }
  return j;
}

void ImagePipeline::load_state(const nlohmann::json& state) {
  try {
    const int channels = state.value("channels", opt_.read.channels);
    if (channels != opt_.read.channels) {
      throw Error("image pipeline state is for " + std::to_string(channels) +
                  " channels but the config asks for " + std::to_string(opt_.read.channels) +
                  "; use the config the model was trained with");
    }
    if (!state.contains("mean")) return;
    auto mean = state.at("mean").get<std::vector<float>>();
    auto sd = state.at("std").get<std::vector<float>>();
    if (mean.size() != static_cast<std::size_t>(channels) || sd.size() != mean.size()) {
      throw Error("image pipeline state has " + std::to_string(mean.size()) + " means and " +
                  std::to_string(sd.size()) + " stds, expected " + std::to_string(channels) +
                  " of each");
    }
    set_stats(std::move(mean), std::move(sd));
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("malformed image pipeline state (") + e.what() + ")");
  }
}

}  // namespace mmfuse::data::image
