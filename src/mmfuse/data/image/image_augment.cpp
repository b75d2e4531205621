#include "mmfuse/data/image/image_augment.h"

#include <cmath>
#include <random>

#include <opencv2/imgproc.hpp>

namespace mmfuse::data::image {

AugmentOptions AugmentOptions::parse(const ConfigNode& cfg) {
  AugmentOptions o;
  if (cfg.is_null()) return o;
  if (!cfg.is_map()) cfg.fail("expected a map of augmentations (rotation_deg, scale, ...)");
  cfg.check_keys({"rotation_deg", "scale", "translate", "crop_padding", "noise_std"});
  o.rotation_deg = cfg.get<double>("rotation_deg", 0.0);
  if (o.rotation_deg < 0 || o.rotation_deg > 180)
    cfg["rotation_deg"].fail("expected degrees in [0, 180], got " + std::to_string(o.rotation_deg));
  if (cfg.has("scale")) {
    auto s = cfg["scale"];
    if (!s.is_sequence() || s.size() != 2) s.fail("expected [lo, hi], e.g. [0.9, 1.1]");
    o.scale_lo = s.at(0).as<double>();
    o.scale_hi = s.at(1).as<double>();
    if (!(o.scale_lo > 0 && o.scale_lo <= o.scale_hi))
      s.fail("expected 0 < lo <= hi, got [" + std::to_string(o.scale_lo) + ", " +
             std::to_string(o.scale_hi) + "]");
  }
  o.translate = cfg.get<double>("translate", 0.0);
  if (o.translate < 0 || o.translate >= 1)
    cfg["translate"].fail("expected a fraction of the size in [0, 1), got " +
                          std::to_string(o.translate));
  o.crop_padding = cfg.get<int>("crop_padding", 0);
  if (o.crop_padding < 0)
    cfg["crop_padding"].fail("expected pixels >= 0, got " + std::to_string(o.crop_padding));
  o.noise_std = cfg.get<double>("noise_std", 0.0);
  if (o.noise_std < 0)
    cfg["noise_std"].fail("expected a standard deviation >= 0, got " + std::to_string(o.noise_std));
  return o;
}

torch::Tensor augment_image(const torch::Tensor& features, const AugmentOptions& opt, Rng& rng) {
  if (!opt.enabled()) return features;
  const int64_t c = features.size(0), h = features.size(1), w = features.size(2);
  // [C, H, W] -> H x W x C image (a copy the warp reads from).
  torch::Tensor hwc = features.to(torch::kFloat).permute({1, 2, 0}).contiguous();
  cv::Mat img(static_cast<int>(h), static_cast<int>(w), CV_32FC(static_cast<int>(c)),
              hwc.data_ptr<float>());
  cv::Mat out = img;  // replaced (not written into) by the warp: it must not read its own output
  if (opt.warps()) {
    std::uniform_real_distribution<double> unit(-1.0, 1.0);
    const double angle = opt.rotation_deg * unit(rng);
    const double scale = std::uniform_real_distribution<double>(opt.scale_lo, opt.scale_hi)(rng);
    double tx = opt.translate * unit(rng) * static_cast<double>(w);
    double ty = opt.translate * unit(rng) * static_cast<double>(h);
    if (opt.crop_padding > 0) {
      std::uniform_int_distribution<int> shift(-opt.crop_padding, opt.crop_padding);
      tx += shift(rng);
      ty += shift(rng);
    }
    const cv::Point2f center(static_cast<float>(w - 1) / 2.f, static_cast<float>(h - 1) / 2.f);
    cv::Mat m = cv::getRotationMatrix2D(center, angle, scale);  // 2x3 CV_64F
    m.at<double>(0, 2) += tx;
    m.at<double>(1, 2) += ty;
    cv::Mat warped;
    cv::warpAffine(img, warped, m, img.size(), cv::INTER_LINEAR, cv::BORDER_REPLICATE);
    out = warped;
  }
  torch::Tensor result = torch::from_blob(out.data, {h, w, c}, torch::kFloat)
                             .permute({2, 0, 1})
                             .clone(torch::MemoryFormat::Contiguous);
  if (opt.noise_std > 0) {
    std::normal_distribution<float> noise(0.f, static_cast<float>(opt.noise_std));
    float* p = result.data_ptr<float>();
    for (int64_t i = 0, n = result.numel(); i < n; ++i) p[i] += noise(rng);
  }
  return result;
}

}  // namespace mmfuse::data::image
