// Text read from files in the encodings real corpora come in (MVSA's tweets: UTF-8 mixed with
// Latin-1). A manifest's text may be a file instead of a string:
//
//   {"text": {"file": "texts/6.txt", "encoding": "auto", "invalid": "error"}}
//
// encoding: utf-8 (strict) | latin-1 (each byte one code point) | auto (the default: UTF-8 when the
// bytes are valid UTF-8, else the charset uchardet detects, converted by iconv; Latin-1, which
// every byte sequence is, when nothing is detected or the conversion fails) | any other iconv
// charset name (gb18030, windows-1252, shift_jis...: strict). invalid (utf-8 only): error
// (an InputError naming the file and the byte offset) | replace (each invalid byte becomes
// U+FFFD). A UTF-8 byte-order mark is dropped. The result is always valid UTF-8.
// Detection on a tweet-sized text is a guess: uchardet sees a few non-ASCII bytes only.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace mmfuse::data {

enum class TextEncoding { utf8, latin1, automatic, named };
enum class InvalidBytes { error, replace };

/// "utf-8", "latin-1", "auto", else `named` when iconv knows the charset (InputError otherwise).
TextEncoding text_encoding_from_string(const std::string& name);
/// "error", "replace"; unknown names throw InputError listing the known ones.
InvalidBytes invalid_bytes_from_string(const std::string& name);

struct DecodedText {
  std::string text;               ///< UTF-8
  bool fallback = false;          ///< auto: the bytes were not UTF-8 (read as `charset`)
  std::string charset = "UTF-8";  ///< what the bytes were read as (uchardet's name under auto)
};

/// The charset uchardet detects in `bytes` ("" when none), e.g. "UTF-8", "GB18030".
std::string detect_charset(std::string_view bytes);

/// Decodes `bytes` read from `file` (named in errors). Throws InputError
/// "FILE: invalid UTF-8 at byte N ..." for invalid bytes with encoding utf-8 and invalid: error.
/// `charset`: the iconv name for TextEncoding::named.
DecodedText decode_text(std::string_view bytes, TextEncoding encoding, InvalidBytes invalid,
                        const std::string& file, const std::string& charset = "");

/// Texts decoded in this process since it started, by the charset read (fallbacks of auto only,
/// e.g. {"GB18030": 15, "WINDOWS-1252": 94}); `mmfuse data check` reports the difference over
/// one manifest.
std::map<std::string, int64_t> text_fallback_counts();

}  // namespace mmfuse::data
