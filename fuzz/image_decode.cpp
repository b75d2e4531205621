// Encoded images (PNG/JPEG/BMP/GIF/WebP/TIFF... through OpenCV) with the header pixel check, the
// conversion to float RGB/gray and a resize.
#include <cstdint>
#include <string>

#include "mmfuse/core/error.h"
#include "mmfuse/data/image/image_header.h"
#include "mmfuse/data/image/image_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mmfuse::data::image;
  if (size < 1) return 0;
  const std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  (void)encoded_image_size(bytes);
  ReadOptions opt;
  opt.channels = (data[0] & 1) ? 1 : 3;
  if (data[0] & 2) opt.background.reset();
  opt.max_pixels = 1 << 20;  // keeps one decode under the fuzzer's memory limit
  try {
    cv::Mat m = decode_image_bytes(bytes, "fuzz.img", opt);
    (void)resize_image(m, 7, 5);
  } catch (const mmfuse::Error&) {
  }
  return 0;
}
