// UTF-8 validation and decoding (RFC 3629: no overlongs, no surrogates, max U+10FFFF).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace mmfuse::utf8 {

/// Byte offset of the first invalid sequence, or nullopt when `s` is valid UTF-8.
std::optional<std::size_t> find_invalid(std::string_view s);
inline bool is_valid(std::string_view s) {
  return !find_invalid(s).has_value();
}

/// Code points of a valid UTF-8 string. Throws InputError (with the byte offset) when invalid.
std::vector<char32_t> decode(std::string_view s);

/// UTF-8 bytes of one code point.
void append(std::string& out, char32_t cp);
std::string encode(const std::vector<char32_t>& cps);

}  // namespace mmfuse::utf8
