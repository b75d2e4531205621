#include "mmfuse/translate/image_io.h"

#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include "mmfuse/core/error.h"
#include "mmfuse/core/fs.h"

namespace mmfuse::translate {

std::string encode_png(const torch::Tensor& input, int scale) {
  torch::Tensor t = input.detach().to(torch::kCPU, torch::kFloat);
  if (t.dim() == 2) t = t.unsqueeze(0);
  if (t.dim() != 3 || (t.size(0) != 1 && t.size(0) != 3)) {
    throw Error("encode_png: expected [1|3, H, W], got " + std::to_string(t.dim()) + " dims");
  }
  // [C, H, W] in [0, 1] -> [H, W, C] uint8 (BGR order for OpenCV).
  auto hwc = (t.clamp(0, 1) * 255.0).round().to(torch::kUInt8).permute({1, 2, 0}).contiguous();
  if (hwc.size(2) == 3) hwc = hwc.flip(2).contiguous();
  cv::Mat mat(static_cast<int>(hwc.size(0)), static_cast<int>(hwc.size(1)),
              hwc.size(2) == 3 ? CV_8UC3 : CV_8UC1, hwc.data_ptr<uint8_t>());
  cv::Mat out = mat;
  if (scale > 1) cv::resize(mat, out, cv::Size(), scale, scale, cv::INTER_NEAREST);
  std::vector<uchar> buf;
  if (!cv::imencode(".png", out, buf)) throw Error("encode_png: OpenCV could not encode the image");
  return std::string(buf.begin(), buf.end());
}

void write_png(const std::string& path, const torch::Tensor& chw, int scale) {
  write_file_atomic(path, encode_png(chw, scale));
}

// Hand-written: 15 lines, and neither OpenCV nor the other libraries we link expose a public
// base64 encoder.
std::string base64(const std::string& in) {
  static const char* abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int s : {18, 12, 6, 0}) out += abc[(v >> s) & 63];
  }
  if (i < in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    if (i + 1 < in.size()) v |= uint8_t(in[i + 1]) << 8;
    out += abc[(v >> 18) & 63];
    out += abc[(v >> 12) & 63];
    out += i + 1 < in.size() ? abc[(v >> 6) & 63] : '=';
    out += '=';
  }
  return out;
}

}  // namespace mmfuse::translate
