#include "mmfuse/core/modality.h"

#include "mmfuse/core/error.h"

namespace mmfuse {

namespace {
constexpr std::array<std::string_view, kNumModalities> kNames = {"image", "audio", "text",
                                                                 "tabular"};
}  // namespace

std::string_view to_string(Modality m) {
  return kNames.at(index_of(m));
}

Modality modality_from_string(std::string_view name) {
  for (Modality m : kAllModalities) {
    if (kNames[index_of(m)] == name) return m;
  }
  throw ConfigError("unknown modality '" + std::string(name) +
                    "'; known modalities: image, audio, text, tabular");
}

}  // namespace mmfuse
