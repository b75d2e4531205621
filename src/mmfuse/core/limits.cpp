#include "mmfuse/core/limits.h"

#include "mmfuse/core/config.h"

namespace mmfuse {

namespace {

template <class T>
T positive_limit(const ConfigNode& node, const std::string& key, T fallback) {
  T v = node.get<T>(key, fallback);
  if (!(v > 0)) node[key].fail("expected a limit > 0, got " + std::to_string(v));
  return v;
}

}  // namespace

InputLimits InputLimits::parse(const ConfigNode& node) {
  InputLimits l;
  if (node.is_null()) return l;
  if (!node.is_map()) node.fail("expected a map of limits, e.g. {max_image_pixels: 100000000}");
  node.check_keys({"max_image_pixels", "max_audio_seconds", "max_audio_bytes", "max_text_bytes",
                   "max_manifest_line_bytes"});
  l.max_image_pixels = positive_limit(node, "max_image_pixels", l.max_image_pixels);
  l.max_audio_seconds = positive_limit(node, "max_audio_seconds", l.max_audio_seconds);
  l.max_audio_bytes = positive_limit(node, "max_audio_bytes", l.max_audio_bytes);
  l.max_text_bytes = positive_limit(node, "max_text_bytes", l.max_text_bytes);
  l.max_manifest_line_bytes =
      positive_limit(node, "max_manifest_line_bytes", l.max_manifest_line_bytes);
  return l;
}

std::string limit_hint(int64_t limit, const std::string& key) {
  return "over the limit of " + std::to_string(limit) + " (`limits." + key +
         "` in the dataset spec; raise it there to accept larger inputs)";
}

}  // namespace mmfuse
