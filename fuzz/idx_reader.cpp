// IDX files (MNIST's format, optionally gzipped): header, payload, and the first items as images.
#include <cstdint>
#include <string>

#include "mmfuse/core/error.h"
#include "mmfuse/data/image/idx.h"
#include "mmfuse/data/image/image_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mmfuse::data::image;
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  try {
    IdxFile f = parse_idx(bytes, "fuzz.idx");
    for (int64_t i = 0; i < f.items() && i < 3; ++i) {
      cv::Mat m = to_float_pixels(f.item_image(i, "fuzz.idx"), ReadOptions{}, true);
      (void)resize_image(m, 4, 4);
    }
  } catch (const mmfuse::Error&) {
  }
  return 0;
}
