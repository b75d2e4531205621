#include "mmfuse/serve/thumbnails.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>

#include "mmfuse/data/image/image_io.h"
#include "mmfuse/serve/base64.h"
#include "mmfuse/translate/image_io.h"

namespace mmfuse::serve {

std::string thumbnail_data_uri(const nlohmann::json& metadata, data::image::IdxCache& idx) {
  if (!metadata.contains("image")) return "";
  const nlohmann::json& field = metadata["image"];
  data::ImageRef ref;
  if (field.is_string()) {
    ref.path = field.get<std::string>();
  } else if (field.is_object() && field.contains("file") && field["file"].is_string()) {
    ref.path = field["file"].get<std::string>();
    ref.index = field.value("index", int64_t{-1});
  } else {
    return "";
  }
  try {
    data::image::ReadOptions opt;
    opt.channels = 3;
    const cv::Mat pixels = data::image::read_image(ref, opt, idx);  // H x W x 3 float, RGB
    const double scale = static_cast<double>(kThumbnailSide) / std::max(pixels.rows, pixels.cols);
    const int h = std::max(1, static_cast<int>(std::lround(pixels.rows * scale)));
    const int w = std::max(1, static_cast<int>(std::lround(pixels.cols * scale)));
    cv::Mat small = data::image::resize_image(pixels, h, w);
    if (!small.isContinuous()) small = small.clone();
    const torch::Tensor hwc = torch::from_blob(small.data, {h, w, 3}, torch::kFloat);
    return "data:image/png;base64," +
           base64_encode(translate::encode_png(hwc.permute({2, 0, 1}).contiguous()));
  } catch (const std::exception& e) {
    spdlog::warn("no thumbnail for {}: {}", ref.path, e.what());
    return "";
  }
}

}  // namespace mmfuse::serve
