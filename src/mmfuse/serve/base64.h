// Base64 (RFC 4648) for files carried in JSON bodies: strict decoding that names the field and
// the first bad character, and encoding for answers (generated images, thumbnails).
#pragma once

#include <string>
#include <string_view>

namespace mmfuse::serve {

/// Decodes standard base64 (alphabet A-Z a-z 0-9 + /, '=' padding optional). A "data:...;base64,"
/// prefix (what a browser's FileReader gives) is skipped. Throws InputError with field `field`
/// naming the offset of the first character outside the alphabet, misplaced padding or a length
/// that no encoding has.
std::string base64_decode(std::string_view text, const std::string& field);

/// Standard base64 with padding.
std::string base64_encode(std::string_view bytes);

}  // namespace mmfuse::serve
