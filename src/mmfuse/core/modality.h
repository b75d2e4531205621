// The modalities mmfuse knows, in the one fixed order every loop over modalities follows.
#pragma once

#include <array>
#include <cstddef>
#include <string>
#include <string_view>

namespace mmfuse {

enum class Modality : int { image = 0, audio = 1, text = 2, tabular = 3 };

inline constexpr std::size_t kNumModalities = 4;
inline constexpr std::array<Modality, kNumModalities> kAllModalities = {
    Modality::image, Modality::audio, Modality::text, Modality::tabular};

inline constexpr std::size_t index_of(Modality m) {
  return static_cast<std::size_t>(m);
}

/// "image", "audio", "text", "tabular".
std::string_view to_string(Modality m);

/// Inverse of to_string. Throws ConfigError listing the known names for an unknown one.
Modality modality_from_string(std::string_view name);

}  // namespace mmfuse
