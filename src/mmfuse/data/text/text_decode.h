// Text read from files in the encodings real corpora come in (MVSA's tweets: UTF-8 mixed with
// Latin-1). A manifest's text may be a file instead of a string:
//
//   {"text": {"file": "texts/6.txt", "encoding": "auto", "invalid": "error"}}
//
// encoding: utf-8 (strict) | latin-1 (each byte one code point) | auto (the default: UTF-8 when the
// bytes are valid UTF-8, else Latin-1, which every byte sequence is). invalid (utf-8 only): error
// (an InputError naming the file and the byte offset) | replace (each invalid byte becomes
// U+FFFD). A UTF-8 byte-order mark is dropped. The result is always valid UTF-8.
#pragma once

#include <string>
#include <string_view>

namespace mmfuse::data {

enum class TextEncoding { utf8, latin1, automatic };
enum class InvalidBytes { error, replace };

/// "utf-8", "latin-1", "auto"; unknown names throw InputError listing the known ones.
TextEncoding text_encoding_from_string(const std::string& name);
/// "error", "replace"; unknown names throw InputError listing the known ones.
InvalidBytes invalid_bytes_from_string(const std::string& name);

struct DecodedText {
  std::string text;       ///< UTF-8
  bool fallback = false;  ///< auto: the bytes were not UTF-8 and were read as Latin-1
};

/// Decodes `bytes` read from `file` (named in errors). Throws InputError
/// "FILE: invalid UTF-8 at byte N ..." for invalid bytes with encoding utf-8 and invalid: error.
DecodedText decode_text(std::string_view bytes, TextEncoding encoding, InvalidBytes invalid,
                        const std::string& file);

}  // namespace mmfuse::data
