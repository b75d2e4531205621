#include "mmfuse/data/video/video_frames_pipeline.h"

#include <iomanip>
#include <sstream>

#include "mmfuse/core/error.h"

namespace mmfuse::data::video {

VideoFramesOptions VideoFramesOptions::parse(const ConfigNode& cfg) {
  VideoFramesOptions o;
  if (cfg.is_null()) return o;
  cfg.check_keys({"frames", "fps", "start_s", "channels", "size", "background", "normalize", "mean",
                  "std", "augment"});
  o.sampling.frames = cfg.get<int>("frames", 8);
  if (o.sampling.frames < 1 || o.sampling.frames > 1024)
    cfg["frames"].fail("expected 1..1024 frames per clip, got " +
                       std::to_string(o.sampling.frames));
  o.sampling.fps = cfg.get<double>("fps", 0.0);
  if (!(o.sampling.fps >= 0)) cfg["fps"].fail("expected fps >= 0 (0: spread uniformly)");
  o.sampling.start_s = cfg.get<double>("start_s", 0.0);
  if (!(o.sampling.start_s >= 0)) cfg["start_s"].fail("expected seconds >= 0");
  YAML::Node rest = YAML::Clone(cfg.yaml());
  for (const char* key : {"frames", "fps", "start_s"}) rest.remove(key);
  o.image = image::ImageOptions::parse(ConfigNode(rest, cfg.path(), cfg.source()));
  return o;
}

std::shared_ptr<VideoFramesPipeline> VideoFramesPipeline::create(const PipelineContext& ctx,
                                                                 const ConfigNode& cfg) {
  return std::make_shared<VideoFramesPipeline>(VideoFramesOptions::parse(cfg));
}

VideoFramesPipeline::VideoFramesPipeline(VideoFramesOptions options)
    : opt_(std::move(options)), image_(opt_.image) {}

std::string VideoFramesPipeline::cache_key() const {
  std::ostringstream key;
  key << std::setprecision(17) << "video_frames/v1;frames=" << opt_.sampling.frames
      << ";fps=" << opt_.sampling.fps << ";start=" << opt_.sampling.start_s << ";"
      << image_.cache_key();
  return key.str();
}

void VideoFramesPipeline::fit(const FitContext& ctx) {
  // Per-channel statistics over every frame: [K, C, H, W] -> [C, K*H, W] for the image fit.
  FitContext frames = ctx;
  frames.features = [&ctx](std::size_t i) {
    torch::Tensor x = ctx.features(i);  // [K, C, H, W]
    return x.permute({1, 0, 2, 3}).reshape({x.size(1), -1, x.size(3)});
  };
  image_.fit(frames);
}

torch::Tensor frames_to_tensor(const std::vector<VideoFrame>& frames, int k,
                               const image::ImageOptions& opt) {
  std::vector<torch::Tensor> out;
  out.reserve(static_cast<std::size_t>(k));
  for (const auto& f : frames) {
    if (static_cast<int>(out.size()) == k) break;
    cv::Mat img = image::to_float_pixels(f.rgb, opt.read, /*rgb_order=*/true);
    if (opt.height > 0) img = image::resize_image(img, opt.height, opt.width);
    if (!img.isContinuous()) img = img.clone();
    out.push_back(torch::from_blob(img.data, {img.rows, img.cols, img.channels()}, torch::kFloat)
                      .permute({2, 0, 1})
                      .clone(torch::MemoryFormat::Contiguous));  // [C, H, W]
  }
  while (static_cast<int>(out.size()) < k) out.push_back(out.back());
  return torch::stack(out);  // [K, C, H, W]
}

torch::Tensor VideoFramesPipeline::extract(const Field& field) const {
  const auto* ref = std::get_if<ImageRef>(&field);
  if (!ref || (!ref->video && !has_video_extension(ref->path))) {
    throw InputError(
        "the video_frames pipeline expected a video clip (a video field, or a .mp4/.mkv/.webm/"
        ".avi/.mov path); use pipeline `image` for still images");
  }
  FrameSampling s = opt_.sampling;
  if (ref->video) {
    if (ref->video->frames > 0 && ref->video->frames != s.frames) {
      throw InputError("the clip asks for " + std::to_string(ref->video->frames) +
                           " frames but the pipeline batches " + std::to_string(s.frames) +
                           " per clip; drop \"frames\" from the manifest or set the pipeline's",
                       ref->path);
    }
    if (ref->video->fps) s.fps = *ref->video->fps;
    if (ref->video->start_s) s.start_s = *ref->video->start_s;
  }
  VideoReader reader(ref->path);
  std::vector<VideoFrame> frames = reader.read_frames(s);
  if (frames.empty()) throw InputError("no frame at or after start_s", ref->path);
  return frames_to_tensor(frames, s.frames, opt_.image);
}

torch::Tensor VideoFramesPipeline::augment(const Field& field, const torch::Tensor& features,
                                           Rng& rng) const {
  const image::AugmentOptions& aug = opt_.image.augment;
  if (!aug.enabled()) return features;
  image::AugmentOptions warp = aug, noise;
  warp.noise_std = 0;
  noise.noise_std = aug.noise_std;
  const Rng clip_start = rng;  // every frame gets the warp drawn from the same state
  std::vector<torch::Tensor> out;
  for (int64_t k = 0; k < features.size(0); ++k) {
    torch::Tensor f = features[k];
    if (warp.warps()) {
      Rng same = clip_start;
      f = image::augment_image(f, warp, same);
      if (k + 1 == features.size(0)) rng = same;
    }
    if (noise.noise_std > 0) f = image::augment_image(f, noise, rng);
    out.push_back(f);
  }
  return torch::stack(out);
}

torch::Tensor VideoFramesPipeline::finalize(const torch::Tensor& features) const {
  std::vector<torch::Tensor> out;
  for (int64_t k = 0; k < features.size(0); ++k) out.push_back(image_.finalize(features[k]));
  return torch::stack(out);
}

std::vector<int64_t> VideoFramesPipeline::item_shape() const {
  std::vector<int64_t> shape = image_.item_shape();
  shape.insert(shape.begin(), opt_.sampling.frames);
  return shape;
}

nlohmann::json VideoFramesPipeline::state() const {
  nlohmann::json j = image_.state();
  j["frames"] = opt_.sampling.frames;
  return j;
}

void VideoFramesPipeline::load_state(const nlohmann::json& state) {
  if (state.contains("frames") && state["frames"] != opt_.sampling.frames) {
    throw Error("video_frames state is for " + state["frames"].dump() +
                " frames per clip but the config asks for " + std::to_string(opt_.sampling.frames) +
                "; use the config the model was trained with");
  }
  image_.load_state(state);
}

}  // namespace mmfuse::data::video
