#include "mmfuse/data/image/image_io.h"

#include <vector>

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"
#include "mmfuse/data/image/image_header.h"

namespace mmfuse::data::image {

namespace {

// color * alpha + bg * (1 - alpha), per channel; `bg` in the channel order of `color`.
cv::Mat composite(const cv::Mat& color, const cv::Mat& alpha, const std::vector<float>& bg) {
  std::vector<cv::Mat> planes;
  cv::split(color, planes);
  cv::Mat inv = 1.0 - alpha;
  for (std::size_t c = 0; c < planes.size(); ++c) {
    planes[c] = planes[c].mul(alpha) + inv * bg[c];
  }
  cv::Mat out;
  cv::merge(planes, out);
  return out;
}

void check_image_pixels(int64_t width, int64_t height, int64_t max_pixels,
                        const std::string& path) {
  // Both sides are in [0, 2^32): their product fits in 64 unsigned bits (not in int64_t).
  const uint64_t pixels = static_cast<uint64_t>(width) * static_cast<uint64_t>(height);
  if (pixels <= static_cast<uint64_t>(max_pixels)) return;
  throw InputError("image is " + std::to_string(width) + " x " + std::to_string(height) + " = " +
                       std::to_string(pixels) + " pixels, " +
                       limit_hint(max_pixels, "max_image_pixels"),
                   path);
}

}  // namespace

cv::Mat to_float_pixels(const cv::Mat& image, const ReadOptions& opt, bool rgb_order) {
  cv::Mat f;
  switch (image.depth()) {
    case CV_8U:
      image.convertTo(f, CV_32F, 1.0 / 255.0);
      break;
    case CV_16U:
      image.convertTo(f, CV_32F, 1.0 / 65535.0);
      break;
    case CV_32F:
      f = image;
      break;
    default:
      image.convertTo(f, CV_32F);
      break;
  }
  if (rgb_order && f.channels() >= 3) {
    cv::Mat bgr;
    cv::cvtColor(f, bgr, f.channels() == 3 ? cv::COLOR_RGB2BGR : cv::COLOR_RGBA2BGRA);
    f = bgr;
  }
  const int in_ch = f.channels();
  cv::Mat color = f, alpha;
  if (in_ch == 2 || in_ch == 4) {
    std::vector<cv::Mat> planes;
    cv::split(f, planes);
    alpha = planes.back();
    planes.pop_back();
    cv::merge(planes, color);
  }
  if (alpha.data && opt.background) {
    const auto& rgb = *opt.background;
    if (color.channels() == 3) {
      color = composite(color, alpha, {rgb[2], rgb[1], rgb[0]});  // BGR order
    } else {
      color = composite(color, alpha, {0.299f * rgb[0] + 0.587f * rgb[1] + 0.114f * rgb[2]});
    }
  }
  cv::Mat out;
  if (color.channels() == 3) {
    cv::cvtColor(color, out, opt.channels == 1 ? cv::COLOR_BGR2GRAY : cv::COLOR_BGR2RGB);
  } else if (opt.channels == 3) {
    cv::cvtColor(color, out, cv::COLOR_GRAY2RGB);
  } else {
    out = color.clone();  // never alias the caller's (or the IDX cache's) pixels
  }
  return out;
}

cv::Mat decode_image_file(const std::string& path, const ReadOptions& opt) {
  return decode_image_bytes(read_file(path), path, opt);
}

cv::Mat decode_image_bytes(const std::string& bytes, const std::string& path,
                           const ReadOptions& opt) {
  if (bytes.empty()) {
    throw InputError("empty image (0 bytes); expected a PNG/JPEG/BMP/TIFF/WebP file", path);
  }
  if (auto size = encoded_image_size(bytes)) {
    check_image_pixels(size->width, size->height, opt.max_pixels, path);
  }
  cv::Mat raw;
  try {
    cv::Mat buf(1, static_cast<int>(bytes.size()), CV_8U, const_cast<char*>(bytes.data()));
    raw = cv::imdecode(buf, cv::IMREAD_UNCHANGED);
  } catch (const cv::Exception& e) {
    throw InputError("cannot decode image (OpenCV: " + e.msg + ")", path);
  }
  if (raw.empty()) {
    throw InputError("cannot decode image (" + std::to_string(bytes.size()) +
                         " bytes; expected a complete PNG/JPEG/BMP/TIFF/WebP file, got a "
                         "truncated, corrupt or unknown format)",
                     path);
  }
  check_image_pixels(raw.cols, raw.rows, opt.max_pixels, path);  // formats without a known header
  if (raw.channels() > 4) {
    throw InputError("image has " + std::to_string(raw.channels()) +
                         " channels (expected 1-4: gray, gray+alpha, RGB or RGBA)",
                     path);
  }
  return to_float_pixels(raw, opt);
}

cv::Mat read_image(const ImageRef& ref, const ReadOptions& opt, IdxCache& idx) {
  if (ref.bytes) {
    if (ref.index >= 0) throw InputError("an in-memory image cannot name an IDX item", ref.path);
    return decode_image_bytes(*ref.bytes, ref.path, opt);
  }
  if (ref.index < 0) return decode_image_file(ref.path, opt);
  auto file = idx.get(ref.path);
  return to_float_pixels(file->item_image(ref.index, ref.path), opt, /*rgb_order=*/true);
}

cv::Mat resize_image(const cv::Mat& image, int height, int width) {
  if (image.rows == height && image.cols == width) return image;
  const bool shrink = height <= image.rows && width <= image.cols;
  cv::Mat out;
  cv::resize(image, out, cv::Size(width, height), 0, 0, shrink ? cv::INTER_AREA : cv::INTER_LINEAR);
  return out;
}

}  // namespace mmfuse::data::image
