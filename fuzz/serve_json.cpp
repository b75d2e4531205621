// HTTP request bodies of the server: the depth pre-check and JSON parse, then the simple API and
// the KServe v2 infer request (base64 files with their header caps, text, tabular numbers).
#include <cstdint>
#include <string>

#include "mmfuse/core/error.h"
#include "mmfuse/serve/json_input.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace mmfuse::serve;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  Limits limits;
  limits.max_samples = 16;
  try {
    nlohmann::json j = parse_body(body);
    try {
      (void)simple_request(j, limits);
    } catch (const mmfuse::Error&) {
    }
    (void)v2_requests(j, limits);
  } catch (const mmfuse::Error&) {
  }
  return 0;
}
