#include "mmfuse/data/text/text_decode.h"

#include "mmfuse/core/error.h"
#include "mmfuse/core/utf8.h"

namespace mmfuse::data {

namespace {

std::string latin1_to_utf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) utf8::append(out, static_cast<char32_t>(c));
  return out;
}

// Each byte at which a valid UTF-8 sequence cannot start becomes U+FFFD.
std::string replace_invalid(std::string_view bytes) {
  std::string out;
  while (!bytes.empty()) {
    const auto bad = utf8::find_invalid(bytes);
    if (!bad) {
      out.append(bytes);
      break;
    }
    out.append(bytes.substr(0, *bad));
    utf8::append(out, 0xFFFD);
    bytes.remove_prefix(*bad + 1);
  }
  return out;
}

}  // namespace

TextEncoding text_encoding_from_string(const std::string& name) {
  if (name == "utf-8") return TextEncoding::utf8;
  if (name == "latin-1") return TextEncoding::latin1;
  if (name == "auto") return TextEncoding::automatic;
  throw InputError("unknown text encoding '" + name + "'; known: utf-8, latin-1, auto");
}

InvalidBytes invalid_bytes_from_string(const std::string& name) {
  if (name == "error") return InvalidBytes::error;
  if (name == "replace") return InvalidBytes::replace;
  throw InputError("unknown value '" + name + "' for invalid; known: error, replace");
}

DecodedText decode_text(std::string_view bytes, TextEncoding encoding, InvalidBytes invalid,
                        const std::string& file) {
  if (bytes.substr(0, 3) == "\xEF\xBB\xBF") bytes.remove_prefix(3);
  DecodedText d;
  if (encoding == TextEncoding::latin1) {
    d.text = latin1_to_utf8(bytes);
    return d;
  }
  const auto bad = utf8::find_invalid(bytes);
  if (!bad) {
    d.text = std::string(bytes);
  } else if (encoding == TextEncoding::automatic) {
    d.text = latin1_to_utf8(bytes);
    d.fallback = true;
  } else if (invalid == InvalidBytes::replace) {
    d.text = replace_invalid(bytes);
  } else {
    throw InputError(file + ": invalid UTF-8 at byte " + std::to_string(*bad) +
                     "; re-encode the file as UTF-8, or set encoding: auto (Latin-1 fallback) "
                     "or invalid: replace");
  }
  return d;
}

}  // namespace mmfuse::data
