// A UTF-8 aware word tokenizer for mixed-script text (no ICU):
//   - invalid UTF-8 -> InputError naming the byte offset;
//   - optional lower-casing of ASCII, Latin-1 Supplement, Latin Extended-A, Greek and Cyrillic
//     (e.g. "É" -> "é", "Ç" -> "ç", "Ω" -> "ω", "Ж" -> "ж"); other scripts are left as they are;
//   - whitespace (Unicode White_Space, controls, zero-width and variation selectors) separates;
//   - punctuation and symbols (ASCII and Latin-1 punctuation, General Punctuation, currency,
//     arrows, math, box drawing, dingbats, CJK punctuation U+3000-U+303F, CJK compatibility and
//     small forms, fullwidth punctuation, emoji) are one token per code point, kept or dropped;
//   - each CJK character (CJK Unified Ideographs incl. Extension A and B-F, CJK Compatibility
//     Ideographs, Hiragana, Katakana incl. halfwidth, Hangul syllables) is its own token;
//   - runs of any other code points (letters, digits and combining marks of alphabetic scripts:
//     Latin, Greek, Cyrillic, Arabic, Hebrew, Devanagari...) are words.
// Limitations: no Unicode normalisation (NFC/NFKC), no word segmentation for scripts written
// without spaces other than CJK (e.g. Thai stays one token per space-separated run), and
// U+3000 (ideographic space) separates like a space rather than being a punctuation token.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace mmfuse::data::text {

struct TokenizerOptions {
  /// Lower-case letters (see the coverage above).
  bool lowercase = true;
  /// Emit punctuation and symbols as tokens (otherwise they only separate words).
  bool keep_punctuation = false;
  /// Social-media text. A URL (from "http://", "https://" or "www." to the next space) is one
  /// token, or the placeholder "<url>"; an @mention ("@" + letters, digits, "_") one token
  /// "@name" or "<user>"; a #hashtag ("#" + word characters) one token "#tag". Emoji (U+1F000 to
  /// U+1FBFF, U+2600 to U+27BF) are tokens even when other punctuation is dropped.
  enum class Special { split, keep, placeholder };
  Special urls = Special::split;
  Special mentions = Special::split;
  bool keep_hashtags = false;
  bool keep_emoji = false;
};

/// "split", "keep", "placeholder"; false for other names.
bool special_from_string(const std::string& name, TokenizerOptions::Special& out);

enum class CharClass { space, punctuation, cjk, word };

/// How the tokenizer treats code point `cp`.
CharClass classify(char32_t cp);

/// Lower-case form of `cp` (itself when it has none or is outside the covered blocks).
char32_t to_lower(char32_t cp);

/// Tokens of `text` (UTF-8). Throws InputError("invalid UTF-8 at byte N ...") when invalid.
std::vector<std::string> tokenize(std::string_view text, const TokenizerOptions& opt = {});

}  // namespace mmfuse::data::text
